#pragma once

#include <map>
#include <memory>
#include <string>

namespace Poco::Net {
class HTTPClientSession;
}

namespace sideband::testing {

struct HttpResult {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers; // lower-case names
};

// A real HTTP(S) client for tests: HTTPS verifies the server against `caFile` (never disabled).
// Each request opens its own connection, unless `keepAlive`: then one connection serves them all.
class TestHttpClient {
public:
    TestHttpClient(std::string host, unsigned short port, std::string caFile = {}, bool keepAlive = false);
    ~TestHttpClient();

    HttpResult request(const std::string& method, const std::string& path, const std::string& body = {},
                       const std::map<std::string, std::string>& headers = {});
    HttpResult get(const std::string& path) { return request("GET", path); }

private:
    std::unique_ptr<Poco::Net::HTTPClientSession> connect() const;

    std::string host_;
    unsigned short port_;
    std::string caFile_;
    bool keepAlive_;
    std::unique_ptr<Poco::Net::HTTPClientSession> kept_;
};

// Headers for a delivery signed with `key` (raw bytes, as parseWebhookSecrets returns them).
std::map<std::string, std::string> signedHeaders(const std::string& key, const std::string& webhookId,
                                                 const std::string& body, long long timestamp = 0 /* now */);

} // namespace sideband::testing
