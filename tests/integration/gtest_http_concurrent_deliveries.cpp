// 500 signed incoming-call deliveries at once, each on its own connection, against a global limit of
// 100 calls: the real host (HTTPS, SQLite) with the Realtime simulator as OpenAI and the accepted
// calls held by a fake launcher. Every delivery is answered; exactly 100 calls are accepted.
#include "FakeSessionLauncher.h"
#include "HostWithSimulator.h"
#include "RawHttpConnection.h"

#include "metrics/SidebandMetrics.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kDeliveries = 500;
constexpr int kGlobalLimit = 100;

class ConcurrentDeliveriesTest : public ::testing::Test {
protected:
    ConcurrentDeliveriesTest()
        : env_(
              [](Settings& s) {
                  s.maxConcurrentCalls = kGlobalLimit;
                  s.maxConcurrentCallsPerTenant = 1000; // above the global limit: only it refuses
                  const Settings defaults;              // the host's own HTTP pool, as a new user runs it
                  s.httpThreads = defaults.httpThreads;
                  s.httpQueue = defaults.httpQueue;
              },
              nullptr, std::make_unique<FakeSessionLauncher>()) {
        std::signal(SIGPIPE, SIG_IGN);
        spdlog::set_level(spdlog::level::warn);
        env_.addTenant("tenant_123", "+18005550123", "{}", 1000);
    }

    // The delivery OpenAI would send for a new incoming call, signed now, as raw bytes.
    std::string signedIncomingCall(int n) {
        simulator::IncomingCall call;
        call.callId = "rtc_concurrent_" + std::to_string(n);
        const auto event = simulator::makeIncomingCallEvent(call);
        const auto now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
        std::string headers = "Content-Type: application/json\r\n";
        for (const auto& [name, value] : env_.sender().signatureHeaders(event, now.count()))
            headers += name + ": " + value + "\r\n";
        return rawRequest("POST", "/api/v1/openai/webhook", event.body, headers);
    }

    double metric(const char* name, const metrics::Labels& labels) { return env_.host().metrics().value(name, labels); }

    HostWithSimulator env_;
};

} // namespace

TEST_F(ConcurrentDeliveriesTest, FiveHundredAtOnceOnTheirOwnConnectionsAllAnsweredExactlyTheLimitAccepted) {
    std::vector<std::unique_ptr<RawHttpConnection>> connections;
    std::vector<std::string> requests;
    for (int i = 0; i < kDeliveries; ++i) {
        connections.push_back(
            std::make_unique<RawHttpConnection>(env_.host().port(), TestCertificates::shared().caFile(), 30s));
        requests.push_back(signedIncomingCall(i));
    }
    // Every connection is open and handshaken; now all 500 requests go out before any answer is read.
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < kDeliveries; ++i)
        connections[i]->send(requests[i]);

    int accepted = 0, capacity = 0, other = 0;
    for (int i = 0; i < kDeliveries; ++i) {
        RawResponse answer;
        try {
            answer = connections[i]->readResponse();
        } catch (const std::exception& e) {
            answer.statusLine = std::string("no answer: ") + e.what();
        }
        if (answer.statusLine == "HTTP/1.1 200 OK" && answer.body.find(R"("accepted":true)") != std::string::npos)
            ++accepted;
        else if (answer.statusLine == "HTTP/1.1 200 OK" && answer.body == R"({"ok":true,"rejected":"capacity"})")
            ++capacity;
        else if (++other <= 5)
            ADD_FAILURE() << "delivery " << i << ": " << answer.statusLine << " " << answer.body;
    }
    const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << "[ figures  ] " << kDeliveries << " concurrent deliveries answered in " << elapsed
              << " s: " << accepted << " accepted, " << capacity << " capacity, " << other << " other" << std::endl;

    EXPECT_EQ(accepted, kGlobalLimit);
    EXPECT_EQ(capacity, kDeliveries - kGlobalLimit);
    EXPECT_EQ(other, 0);
    EXPECT_EQ(env_.host().ledger().total().inUse(), kGlobalLimit);
    EXPECT_EQ(metric(metrics::name::kCallsAccepted, {{"tenant", "tenant_123"}, {"channel", "sip"}}), kGlobalLimit);
    EXPECT_EQ(metric(metrics::name::kCallsRejected, {{"tenant", "tenant_123"}, {"reason", "capacity"}}),
              kDeliveries - kGlobalLimit);
    EXPECT_EQ(metric(metrics::name::kHttpSaturated, {{"listener", "main"}}), 0) << "no delivery was turned away busy";
}
