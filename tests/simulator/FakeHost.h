#pragma once

#include "SidebandTestClient.h"

#include "webhook/WebhookSignature.h"

#include <Poco/Net/HTTPServer.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sideband::testing {

// A stand-in for the host in the simulator's own tests: verifies webhook signatures with
// sideband's WebhookVerifier, accepts calls through the simulator's REST API and answers every
// function call over the sideband socket ("transfer" -> REST refer). The real host's tests use the
// real host; this keeps the simulator's suite independent of it.
class FakeHost {
public:
    struct Delivery {
        std::map<std::string, std::string> headers; // lower-case names
        std::string body;
        webhook::VerifyResult verified;
    };

    FakeHost(const std::string& secret, bool tls, unsigned short simulatorPort, bool simulatorTls);
    ~FakeHost();

    unsigned short port() const { return port_; }
    std::string webhookUrl() const;
    std::vector<Delivery> deliveries() const;
    // Reject with status_code 486 instead of accepting. Set by the test, read on the server's threads.
    std::atomic<bool> rejectCalls{false};

    void handle(const std::map<std::string, std::string>& headers, const std::string& body, int& status,
                std::string& answer);

private:
    void runSession(std::string callId);

    std::vector<std::string> keys_;
    bool tls_;
    unsigned short simulatorPort_;
    bool simulatorTls_;
    unsigned short port_ = 0;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    mutable std::mutex mutex_;
    std::vector<Delivery> deliveries_;
    std::vector<std::thread> sessions_;
};

} // namespace sideband::testing
