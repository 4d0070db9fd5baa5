#pragma once

#include <map>
#include <string>

namespace sideband::testing {

struct HttpResult {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers; // lower-case names
};

// A real HTTP(S) client for tests: HTTPS verifies the server against `caFile` (never disabled).
class TestHttpClient {
public:
    TestHttpClient(std::string host, unsigned short port, std::string caFile = {});

    HttpResult request(const std::string& method, const std::string& path, const std::string& body = {},
                       const std::map<std::string, std::string>& headers = {});
    HttpResult get(const std::string& path) { return request("GET", path); }

private:
    std::string host_;
    unsigned short port_;
    std::string caFile_;
};

// Headers for a delivery signed with `key` (raw bytes, as parseWebhookSecrets returns them).
std::map<std::string, std::string> signedHeaders(const std::string& key, const std::string& webhookId,
                                                 const std::string& body, long long timestamp = 0 /* now */);

} // namespace sideband::testing
