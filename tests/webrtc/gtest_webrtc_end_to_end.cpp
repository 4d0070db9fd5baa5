// Browsers' WebRTC calls through the real host over HTTPS, with the simulator as OpenAI: the
// create, the sideband session with a real plugin's tool, the live event log, the hang-up, the
// capacity SIP and WebRTC calls share, and the API key kept out of every answer and log line.
#include "HostWithSimulator.h"
#include "TestHttpClient.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "tenants/WebTokens.h"

#include <spdlog/sinks/ostream_sink.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::string chromiumOffer() {
    std::ifstream in(SIDEBAND_CHROMIUM_OFFER, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class WebRtcEndToEndTest : public ::testing::Test {
protected:
    WebRtcEndToEndTest()
        : env_([](Settings& s) {
              s.pluginDir = SIDEBAND_TEST_PLUGIN_DIR;
              s.maxConcurrentCalls = 2;
              s.webrtcPage = true;
          }) {
        env_.addTenant("shop", "+18005550160", R"({"plugin":"misbehaving_v1.so","voice":"marin"})");
        auto made = tenants::makeWebToken("shop", {}, 30, std::chrono::system_clock::now());
        env_.host().store().saveWebToken(made.token, tenants::hashWebTokenSecret(made.secret));
        secret_ = made.secret;
    }

    TestHttpClient client() {
        return TestHttpClient("localhost", env_.host().port(), TestCertificates::shared().caFile());
    }
    // `variant` makes another offer (another peer connection), so another call.
    HttpResult create(const std::string& variant = "") {
        return client().request("POST", "/api/v1/webrtc/calls", chromiumOffer() + variant,
                                {{"Authorization", "Bearer " + secret_}, {"Content-Type", "application/sdp"}});
    }
    Poco::JSON::Object::Ptr events(const std::string& callId) {
        const auto answer = client().request("GET", "/api/v1/webrtc/calls/events?call_id=" + callId, "",
                                             {{"Authorization", "Bearer " + secret_}});
        EXPECT_EQ(answer.status, 200) << answer.body;
        return json::parse(answer.body).extract<Poco::JSON::Object::Ptr>();
    }
    bool logged(const std::string& callId, const std::string& type) {
        const auto list = events(callId)->getArray("events");
        for (std::size_t i = 0; list && i < list->size(); ++i)
            if (list->getObject(static_cast<unsigned>(i))->getValue<std::string>("type") == type) return true;
        return false;
    }

    HostWithSimulator env_;
    std::string secret_;
};

} // namespace

TEST_F(WebRtcEndToEndTest, AWholeCallIsCreatedServedWithItsToolAndHungUpFromTheBrowser) {
    const auto answer = create();
    ASSERT_EQ(answer.status, 201) << answer.body;
    EXPECT_EQ(answer.headers.at("content-type"), "application/sdp");
    const auto callId = answer.headers.at("x-sideband-call-id");
    ASSERT_THAT(callId, ::testing::StartsWith("rtc_"));

    const auto creates = env_.simulator().createRequests();
    ASSERT_EQ(creates.size(), 1u);
    EXPECT_EQ(creates[0].callId, callId);
    EXPECT_EQ(creates[0].sdpAnswer, answer.body);
    EXPECT_EQ(creates[0].sdp, chromiumOffer());
    EXPECT_THAT(creates[0].session,
                HasSubstr(R"("instructions":"You are a helpful receptionist. [v1]")")); // decorated by the plugin
    EXPECT_THAT(creates[0].session, HasSubstr(R"("name":"echo")"));

    // The simulator's caller asks and its model calls the plugin's first tool, echo.
    auto session = env_.simulator().waitForSession(callId, 10000ms);
    ASSERT_TRUE(session);
    EXPECT_TRUE(session->waitForEvent("conversation.item.create", 10000ms));
    EXPECT_TRUE(eventually([&] { return logged(callId, "function_call_output"); }, 10000ms));
    EXPECT_TRUE(logged(callId, "session.open"));
    EXPECT_TRUE(logged(callId, "function_call"));
    EXPECT_EQ(env_.host().metrics().value(metrics::name::kSessions, {{"outcome", "started"}, {"channel", "webrtc"}}),
              1);

    const auto hangup = client().request("POST", "/api/v1/webrtc/calls/hangup?call_id=" + callId, "",
                                         {{"Authorization", "Bearer " + secret_}});
    EXPECT_EQ(hangup.status, 200);
    EXPECT_EQ(hangup.body, R"({"ok":true})");
    EXPECT_TRUE(env_.simulator().waitForRestRequest(callId, "hangup", 10000ms));
    EXPECT_TRUE(eventually([&] { return events(callId)->getValue<bool>("ended"); }, 10000ms));
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    const auto record = env_.host().store().findCall(callId);
    ASSERT_TRUE(record);
    EXPECT_EQ(record->channel, "webrtc");
    EXPECT_EQ(record->outcome, "accepted");
}

TEST_F(WebRtcEndToEndTest, AnEndedWebhookForTheCallClosesItsSessionAndFreesItsSlot) {
    const auto answer = create();
    ASSERT_EQ(answer.status, 201) << answer.body;
    const auto callId = answer.headers.at("x-sideband-call-id");
    auto session = env_.simulator().waitForSession(callId, 10000ms);
    ASSERT_TRUE(session);
    ASSERT_TRUE(eventually([&] { return logged(callId, "session.open"); }, 10000ms));
    EXPECT_EQ(env_.sender().deliver(simulator::makeCallEvent("realtime.call.ended", callId)).status, 200);
    EXPECT_TRUE(eventually([&] { return !session->isConnected(); }, 10000ms));
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    EXPECT_TRUE(eventually([&] { return events(callId)->getValue<bool>("ended"); }));
    EXPECT_FALSE(env_.simulator().waitForRestRequest(callId, "hangup", 500ms)); // OpenAI ended it
}

TEST_F(WebRtcEndToEndTest, SipAndWebRtcCallsTogetherNeverExceedTheGlobalLimit) {
    ASSERT_THAT(env_.incomingCall("rtc_sip_1", "+18005550160").body, HasSubstr(R"("accepted":true)"));
    ASSERT_EQ(create("a=second\r\n").status, 201);
    const auto third = create("a=third\r\n");
    EXPECT_EQ(third.status, 503);
    EXPECT_EQ(third.body, R"({"detail":"At capacity"})");
    EXPECT_THAT(env_.incomingCall("rtc_sip_2", "+18005550160").body, HasSubstr(R"("rejected":"capacity")"));
    EXPECT_EQ(env_.simulator().createRequests().size(), 1u);
    EXPECT_EQ(env_.host().ledger().total().inUse(), 2);
}

TEST_F(WebRtcEndToEndTest, OpenAIRefusingTheCreateIsAClearErrorAndReleasesTheSlot) {
    env_.simulator().failNext("create", 400);
    const auto answer = create();
    EXPECT_EQ(answer.status, 502);
    EXPECT_THAT(answer.body, HasSubstr(R"("detail":"OpenAI refused the call","status":400)"));
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    EXPECT_TRUE(env_.simulator().sessions().empty());
}

TEST_F(WebRtcEndToEndTest, ThePageIsServedWithAPolicyThatKeepsItToThisHost) {
    const auto page = client().get("/webrtc/");
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.headers.at("content-type"), "text/html; charset=utf-8");
    EXPECT_THAT(page.body, HasSubstr(R"(<script src="app.js"></script>)"));
    EXPECT_THAT(page.headers.at("content-security-policy"), HasSubstr("default-src 'self'"));
    const auto script = client().get("/webrtc/app.js");
    EXPECT_EQ(script.status, 200);
    EXPECT_THAT(script.body, HasSubstr("/api/v1/webrtc/calls"));
}

TEST(WebRtcPageSetting, ThePageIsOffUnlessEnabled) {
    HostWithSimulator env;
    const auto page =
        TestHttpClient("localhost", env.host().port(), TestCertificates::shared().caFile()).get("/webrtc/");
    EXPECT_EQ(page.status, 404);
}

TEST(WebRtcApiKey, TheApiKeyAppearsInNoAnswerPageOrLogLine) {
    std::ostringstream lines;
    logging::configure(logging::Format::Human, spdlog::level::trace,
                       std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
    std::vector<HttpResult> answers;
    {
        HostWithSimulator env([](Settings& s) {
            s.pluginDir = SIDEBAND_TEST_PLUGIN_DIR;
            s.webrtcPage = true;
        });
        env.addTenant("shop", "+18005550160", R"({"plugin":"misbehaving_v1.so"})");
        auto made = tenants::makeWebToken("shop", {}, 30, std::chrono::system_clock::now());
        env.host().store().saveWebToken(made.token, tenants::hashWebTokenSecret(made.secret));
        TestHttpClient client("localhost", env.host().port(), TestCertificates::shared().caFile());
        const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + made.secret},
                                                         {"Content-Type", "application/sdp"}};
        answers.push_back(client.get("/webrtc/"));
        answers.push_back(client.get("/webrtc/app.js"));
        answers.push_back(client.request("POST", "/api/v1/webrtc/calls", chromiumOffer(), headers));
        answers.push_back(client.request("POST", "/api/v1/webrtc/calls", "not sdp", headers));
        answers.push_back(client.request("POST", "/api/v1/webrtc/calls", chromiumOffer(), {}));
        env.simulator().failNext("create", 401);
        answers.push_back(client.request("POST", "/api/v1/webrtc/calls", chromiumOffer() + "a=x\r\n", headers));
        env.simulator().failNext("create", 500, 3);
        answers.push_back(client.request("POST", "/api/v1/webrtc/calls", chromiumOffer() + "a=y\r\n", headers));
        const auto callId = answers[2].headers.at("x-sideband-call-id");
        EXPECT_TRUE(env.simulator().waitForSession(callId, 10000ms));
        answers.push_back(client.request("GET", "/api/v1/webrtc/calls/events?call_id=" + callId, "", headers));
        EXPECT_EQ(env.simulator().createRequests().at(0).authorization,
                  std::string("Bearer ") + HostWithSimulator::kApiKey); // it was used, and only there
    }
    spdlog::drop("sideband");
    logging::configure(logging::Format::Human, spdlog::level::info);
    const std::string key = HostWithSimulator::kApiKey;
    EXPECT_EQ(answers.at(5).status, 502);
    for (const auto& answer : answers) {
        EXPECT_THAT(answer.body, Not(HasSubstr(key)));
        for (const auto& [name, value] : answer.headers)
            EXPECT_THAT(value, Not(HasSubstr(key))) << name;
    }
    EXPECT_THAT(lines.str(), HasSubstr("webrtc call created"));
    EXPECT_THAT(lines.str(), Not(HasSubstr(key)));
}
