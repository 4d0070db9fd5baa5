// Scenarios end to end: signed webhook -> (fake) host -> REST accept -> sideband -> script -> verdict.
#include "FakeHost.h"
#include "RealtimeSimulator.h"
#include "ScenarioRunner.h"
#include "TestCertificates.h"

#include <gtest/gtest.h>

#include <sstream>

using namespace sideband::simulator;
using namespace sideband::testing;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

class ScenarioRunnerTest : public ::testing::Test {
protected:
    void SetUp() override {
        SimulatorOptions options;
        options.tlsCert = TestCertificates::shared().certFile();
        options.tlsKey = TestCertificates::shared().keyFile();
        options.expectedApiKey = "sk-test";
        options.referCloseDelay = std::chrono::milliseconds(50);
        simulator_ = std::make_unique<RealtimeSimulator>(options);
        simulator_->start();
        host_ = std::make_unique<FakeHost>(kSecret, true, simulator_->port(), true);
        WebhookSenderOptions sender;
        sender.url = host_->webhookUrl();
        sender.caFile = TestCertificates::shared().caFile();
        sender.secret = kSecret;
        sender_ = std::make_unique<WebhookSender>(sender);
    }
    void TearDown() override {
        simulator_->stop();
        host_.reset();
    }
    ScenarioReport run(const std::string& json) {
        ScenarioRunner runner(*simulator_, *sender_, &live_);
        return runner.run(parseScenario(json));
    }
    std::string dump(const CallResult& call) {
        std::string out;
        for (const auto& line : call.trace)
            out += line + "\n";
        return out;
    }

    std::unique_ptr<RealtimeSimulator> simulator_;
    std::unique_ptr<FakeHost> host_;
    std::unique_ptr<WebhookSender> sender_;
    std::ostringstream live_;
};

} // namespace

TEST_F(ScenarioRunnerTest, BookingCallPasses) {
    const auto report = run(R"({"calls":[{"name":"book a cleaning","from":"+14155550100","from_name":"Alice",
      "expect":{"webhook_body_contains":"\"accepted\":true","rest":["accept"],"no_rest":["reject"],
                "accept_body_contains":"\"type\":\"realtime\"","session_update_contains":"find_slots"},
      "ended_webhook":true,
      "steps":[{"say":"caller","text":"A cleaning next Tuesday"},
               {"function_call":{"name":"find_slots","arguments":{"date":"2026-12-01"}}},
               {"expect_output_contains":"slot"},
               {"say":"agent","text":"Tuesday 9am it is."},
               {"hangup":"caller","close_frame":false}]}]})");
    ASSERT_EQ(report.calls.size(), 1u);
    const auto& call = report.calls[0];
    EXPECT_TRUE(call.passed) << dump(call);
    const auto trace = dump(call);
    EXPECT_NE(trace.find("webhook answer 200"), std::string::npos) << trace;
    EXPECT_NE(trace.find("Idempotency-Key: accept_evt_"), std::string::npos) << trace;
    EXPECT_NE(trace.find("Authorization: Bearer <redacted>"), std::string::npos) << trace;
    EXPECT_EQ(trace.find("sk-test"), std::string::npos) << "secrets never printed";
    EXPECT_NE(trace.find("function call find_slots"), std::string::npos) << trace;
    EXPECT_NE(trace.find("output of find_slots"), std::string::npos) << trace;
    EXPECT_NE(trace.find("realtime.call.ended"), std::string::npos) << trace;
    EXPECT_NE(live_.str().find("find_slots"), std::string::npos);
}

TEST_F(ScenarioRunnerTest, TransferExpectsARefer) {
    const auto report = run(R"({"calls":[{"name":"transfer",
      "expect":{"rest":["accept","refer"]},
      "steps":[{"function_call":{"name":"transfer","arguments":{"to":"front desk"},"await_output":false}},
               {"expect_rest":{"action":"refer","body_contains":"tel:+1"}}]}]})");
    EXPECT_TRUE(report.passed()) << dump(report.calls[0]);
}

TEST_F(ScenarioRunnerTest, UnmetExpectationsFailWithReasons) {
    const auto report = run(R"({"calls":[{"name":"wrong expectations",
      "expect":{"webhook_status":202,"rest":["hangup"]},
      "steps":[{"function_call":{"name":"find_slots"}},{"expect_output_contains":"no such text"},
               {"hangup":"caller"}]}]})");
    ASSERT_EQ(report.calls.size(), 1u);
    const auto& call = report.calls[0];
    EXPECT_FALSE(call.passed);
    std::string all;
    for (const auto& failure : call.failures)
        all += failure + "\n";
    EXPECT_NE(all.find("webhook answered 200, expected 202"), std::string::npos) << all;
    EXPECT_NE(all.find("expected a REST hangup call"), std::string::npos) << all;
    EXPECT_NE(all.find("lacks \"no such text\""), std::string::npos) << all;
}

TEST_F(ScenarioRunnerTest, RejectedCallPassesWhenRejectionIsExpected) {
    host_->rejectCalls = true;
    const auto report = run(R"({"calls":[{"name":"at capacity",
      "expect":{"outcome":"reject","reject_status_code":486,"webhook_body_contains":"capacity","no_rest":["accept"]}}]})");
    EXPECT_TRUE(report.passed()) << dump(report.calls[0]);
}

TEST_F(ScenarioRunnerTest, RedeliveriesAreSent) {
    const auto report = run(R"({"calls":[{"name":"redelivered","redeliver":1,"steps":[{"hangup":"caller"}]}]})");
    EXPECT_EQ(host_->deliveries().size(), 2u);
    EXPECT_EQ(host_->deliveries()[0].headers.at("webhook-id"), host_->deliveries()[1].headers.at("webhook-id"));
    (void)report;
}

TEST_F(ScenarioRunnerTest, ParallelCallsAndABargeInPassWithAWellBehavedHost) {
    const auto report = run(R"({"calls":[{"name":"two tools at once, then the caller interrupts",
      "steps":[{"say":"caller","text":"Any slot Tuesday or Wednesday?"},
               {"function_calls":[{"name":"find_slots","arguments":{"date":"2026-12-01"}},
                                  {"name":"find_slots","arguments":{"date":"2026-12-02"}}]},
               {"expect_output_contains":"Tuesday"},
               {"barge_in":{"name":"book_appointment","arguments":{"slot":"9am"},"caller_says":"No, wait"}},
               {"function_call":{"name":"find_slots","arguments":{"date":"2026-12-03"}}},
               {"hangup":"caller","close_frame":false}]}]})");
    ASSERT_EQ(report.calls.size(), 1u);
    EXPECT_TRUE(report.calls[0].passed) << dump(report.calls[0]);
    EXPECT_EQ(simulator_->resumeStats().count, 2u);
    EXPECT_EQ(simulator_->turnStats().responsesCancelled, 1u);
    EXPECT_EQ(simulator_->turnStats().responseCreatesRefused, 0u);
}

TEST_F(ScenarioRunnerTest, AScenarioCanMakeTheAcceptFail) {
    const auto report = run(R"({"calls":[{"name":"accept answers 401",
      "rest_faults":[{"action":"accept","status":401}],
      "steps":[{"hangup":"caller"}]}]})");
    ASSERT_EQ(report.calls.size(), 1u);
    const auto requests = simulator_->restRequests(report.calls[0].callId);
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests[0].action, "accept");
    EXPECT_EQ(requests[0].status, 401);
    EXPECT_NE(dump(report.calls[0]).find("REST fault queued: accept x1 -> 401"), std::string::npos)
        << dump(report.calls[0]);
}
