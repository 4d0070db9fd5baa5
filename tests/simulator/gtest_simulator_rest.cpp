// The call-control REST side of the simulator: what the host's REST client talks to.
#include "RealtimeSimulator.h"
#include "TestCertificates.h"
#include "TestHttpClient.h"
#include "TransportMode.h"
#include "core/Json.h"

#include <Poco/JSON/Object.h>
#include <gtest/gtest.h>

#include <thread>

using namespace sideband::simulator;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

class SimulatorRestTest : public ::testing::TestWithParam<TransportMode> {
protected:
    void SetUp() override { start({}); }

    void start(SimulatorOptions options) {
        if (simulator_) simulator_->stop();
        if (GetParam().tls) {
            options.tlsCert = TestCertificates::shared().certFile();
            options.tlsKey = TestCertificates::shared().keyFile();
        }
        options.expectedApiKey = "sk-test";
        simulator_ = std::make_unique<RealtimeSimulator>(options);
        simulator_->start();
        client_ = std::make_unique<TestHttpClient>("127.0.0.1", simulator_->port(),
                                                   GetParam().tls ? TestCertificates::shared().caFile() : "");
    }

    HttpResult post(const std::string& callId, const std::string& action, const std::string& body = {},
                    std::map<std::string, std::string> headers = {{"Authorization", "Bearer sk-test"}}) {
        return client_->request("POST", "/v1/realtime/calls/" + callId + "/" + action, body, headers);
    }

    std::unique_ptr<RealtimeSimulator> simulator_;
    std::unique_ptr<TestHttpClient> client_;
};

const std::string kAccept = R"({"type":"realtime","model":"gpt-realtime","instructions":"Be nice"})";

} // namespace

TEST_P(SimulatorRestTest, BaseUrlNamesSchemeAndBoundPort) {
    EXPECT_NE(simulator_->port(), 0);
    EXPECT_EQ(simulator_->baseUrl(), std::string(GetParam().tls ? "https" : "http") +
                                         "://127.0.0.1:" + std::to_string(simulator_->port()) + "/v1");
}

TEST_P(SimulatorRestTest, RecordsEveryRequestWithHeadersAndBody) {
    const auto r =
        post("rtc_abc", "accept", kAccept, {{"Authorization", "Bearer sk-test"}, {"Idempotency-Key", "accept_evt_1"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "");
    ASSERT_TRUE(simulator_->waitForRestRequests(1, 1s));
    const auto requests = simulator_->restRequests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].path, "/v1/realtime/calls/rtc_abc/accept");
    EXPECT_EQ(requests[0].callId, "rtc_abc");
    EXPECT_EQ(requests[0].action, "accept");
    EXPECT_EQ(requests[0].authorization, "Bearer sk-test");
    EXPECT_EQ(requests[0].idempotencyKey, "accept_evt_1");
    EXPECT_EQ(requests[0].headers.at("idempotency-key"), "accept_evt_1");
    EXPECT_EQ(requests[0].body, kAccept);
    EXPECT_EQ(requests[0].status, 200);
    EXPECT_TRUE(requests[0].warnings.empty());
}

TEST_P(SimulatorRestTest, AllFourActionsAnswer200) {
    for (const auto* action : {"accept", "reject", "refer", "hangup"})
        EXPECT_EQ(post("rtc_1", action, "{}").status, 200);
    EXPECT_EQ(simulator_->restRequests("rtc_1").size(), 4u);
}

TEST_P(SimulatorRestTest, AcceptWithoutTypeRealtimeIsAnsweredButFlagged) {
    EXPECT_EQ(post("rtc_1", "accept", R"({"model":"gpt-realtime"})").status, 200);
    const auto requests = simulator_->restRequests();
    ASSERT_EQ(requests.size(), 1u);
    ASSERT_EQ(requests[0].warnings.size(), 1u);
    EXPECT_NE(requests[0].warnings[0].find("type"), std::string::npos);
}

TEST_P(SimulatorRestTest, WrongOrMissingApiKeyIs401) {
    EXPECT_EQ(post("rtc_1", "accept", kAccept, {{"Authorization", "Bearer sk-wrong"}}).status, 401);
    EXPECT_EQ(post("rtc_1", "accept", kAccept, {}).status, 401);
    EXPECT_EQ(simulator_->restRequests().size(), 2u); // recorded all the same
    EXPECT_EQ(redactAuthorization("Bearer sk-wrong"), "Bearer <redacted>");
}

TEST_P(SimulatorRestTest, FailNextAnswersStatusThenRecovers) {
    simulator_->failNext("accept", 500, 1);
    EXPECT_EQ(post("rtc_1", "accept", kAccept).status, 500);
    EXPECT_EQ(post("rtc_1", "accept", kAccept).status, 200);
    EXPECT_EQ(post("rtc_1", "reject").status, 200);
}

TEST_P(SimulatorRestTest, FailNextAnswersOpenAiShapedErrorBodies) {
    auto errorOf = [](const HttpResult& result) {
        const auto body = sideband::json::parse(result.body).extract<Poco::JSON::Object::Ptr>();
        return body->getObject("error");
    };
    simulator_->failNext("accept", 401);
    const auto unauthorized = post("rtc_1", "accept", kAccept);
    EXPECT_EQ(unauthorized.status, 401);
    auto error = errorOf(unauthorized);
    ASSERT_TRUE(error) << unauthorized.body;
    EXPECT_FALSE(error->getValue<std::string>("message").empty());
    EXPECT_EQ(error->getValue<std::string>("type"), "invalid_request_error");
    EXPECT_EQ(error->getValue<std::string>("code"), "invalid_api_key");
    EXPECT_TRUE(error->has("param") && error->isNull("param"));

    simulator_->failNext("accept", 400);
    const auto invalid = post("rtc_1", "accept", kAccept);
    EXPECT_EQ(invalid.status, 400);
    error = errorOf(invalid);
    ASSERT_TRUE(error) << invalid.body;
    EXPECT_FALSE(error->getValue<std::string>("message").empty());
    EXPECT_EQ(error->getValue<std::string>("type"), "invalid_request_error");
    EXPECT_TRUE(error->has("code"));
    EXPECT_TRUE(error->has("param") && error->isNull("param"));

    simulator_->failNext("accept", 429);
    EXPECT_EQ(errorOf(post("rtc_1", "accept", kAccept))->getValue<std::string>("code"), "rate_limit_exceeded");
    simulator_->failNext("accept", 503);
    EXPECT_EQ(errorOf(post("rtc_1", "accept", kAccept))->getValue<std::string>("type"), "server_error");
    EXPECT_EQ(post("rtc_1", "accept", kAccept).status, 200);
}

TEST_P(SimulatorRestTest, HangupIsRecordedWithItsIdempotencyKey) {
    EXPECT_EQ(
        post("rtc_h", "hangup", "", {{"Authorization", "Bearer sk-test"}, {"Idempotency-Key", "hangup_rtc_h"}}).status,
        200);
    const auto hangup = simulator_->waitForRestRequest("rtc_h", "hangup", 1s);
    ASSERT_TRUE(hangup);
    EXPECT_EQ(hangup->idempotencyKey, "hangup_rtc_h");
    EXPECT_EQ(hangup->headers.at("idempotency-key"), "hangup_rtc_h");
    EXPECT_EQ(hangup->path, "/v1/realtime/calls/rtc_h/hangup");
    EXPECT_EQ(hangup->status, 200);
}

TEST_P(SimulatorRestTest, FaultsCanTargetOneCallId) {
    simulator_->failNext("*", 503, 2, "rtc_bad");
    EXPECT_EQ(post("rtc_good", "accept", kAccept).status, 200);
    EXPECT_EQ(post("rtc_bad", "reject").status, 503);
    EXPECT_EQ(post("rtc_bad", "accept", kAccept).status, 503);
    EXPECT_EQ(post("rtc_bad", "accept", kAccept).status, 200);
}

TEST_P(SimulatorRestTest, NotFoundNextLooksLikeTheRealApi) {
    simulator_->notFoundNext("accept");
    const auto r = post("rtc_gone", "accept", kAccept);
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find(R"("message":"call_id_not_found")"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(R"("error":{)"), std::string::npos) << r.body;
}

TEST_P(SimulatorRestTest, DelayNextHoldsTheAnswer) {
    simulator_->delayNext("hangup", 300ms);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(post("rtc_1", "hangup").status, 200);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 290ms);
    const auto again = std::chrono::steady_clock::now();
    EXPECT_EQ(post("rtc_1", "hangup").status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - again, 250ms);
}

TEST_P(SimulatorRestTest, StrictModeRejectsUnknownCallIds) {
    SimulatorOptions options;
    options.strict = true;
    start(options);
    simulator_->setScript("rtc_known", CallScript{});
    EXPECT_EQ(post("rtc_unknown", "accept", kAccept).status, 404);
    EXPECT_EQ(post("rtc_known", "accept", kAccept).status, 200);
}

TEST_P(SimulatorRestTest, UnknownPathsAndMethodsAreErrors) {
    EXPECT_EQ(client_->request("POST", "/v1/realtime/calls/rtc_1/transfer", "{}", {{"Authorization", "Bearer sk-test"}})
                  .status,
              404);
    EXPECT_EQ(
        client_->request("GET", "/v1/realtime/calls/rtc_1/accept", "", {{"Authorization", "Bearer sk-test"}}).status,
        405);
    EXPECT_EQ(client_->request("GET", "/v1/models").status, 404);
}

TEST_P(SimulatorRestTest, ConcurrentRequestsAreAllRecorded) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            TestHttpClient client("127.0.0.1", simulator_->port(),
                                  GetParam().tls ? TestCertificates::shared().caFile() : "");
            for (int i = 0; i < 10; ++i)
                client.request("POST",
                               "/v1/realtime/calls/rtc_" + std::to_string(t) + "_" + std::to_string(i) + "/accept",
                               kAccept, {{"Authorization", "Bearer sk-test"}});
        });
    for (auto& thread : threads)
        thread.join();
    EXPECT_TRUE(simulator_->waitForRestRequests(40, 2s));
    EXPECT_EQ(simulator_->restRequests().size(), 40u);
}

INSTANTIATE_TEST_SUITE_P(Transports, SimulatorRestTest, bothTransports(), transportName);
