// Whole calls through the real host: webhook, accept, sideband session, tools from real plugins
// loaded by the real loader, and the REST calls those tools make, with the simulator as OpenAI.
#include "HostWithSimulator.h"
#include "RecordedEnd.h"

#include "metrics/SidebandMetrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

namespace {

class CallEndToEndTest : public ::testing::Test {
protected:
    // Answers the webhook, then waits for the call's sideband session to be configured.
    std::shared_ptr<simulator::SimulatedSession> placeCall(HostWithSimulator& env, const std::string& callId,
                                                           const std::string& to) {
        const auto answer = env.incomingCall(callId, to);
        EXPECT_THAT(answer.body, HasSubstr(R"("accepted":true)"));
        auto session = env.simulator().waitForSession(callId, 10000ms);
        if (session) {
            EXPECT_TRUE(session->waitForEvent("session.update", 10000ms));
        }
        return session;
    }
};

class MisbehavingPluginTest : public CallEndToEndTest {
protected:
    MisbehavingPluginTest() : env_([](Settings& s) { s.pluginDir = SIDEBAND_TEST_PLUGIN_DIR; }) {
        env_.addTenant("shaky", "+18005550150", R"({"plugin":"misbehaving_v1.so","tool_timeout_ms":300})");
    }
    HostWithSimulator env_;
};

class CallRoutingPluginTest : public CallEndToEndTest {
protected:
    CallRoutingPluginTest() {
        env_.addTenant("northwind", "+18005550188",
                       R"({"plugin":"call-routing.so","transfer_target":"tel:+14155550199"})");
    }
    HostWithSimulator env_;
};

} // namespace

TEST_F(MisbehavingPluginTest, ToolResultReachesTheModel) {
    auto session = placeCall(env_, "rtc_echo", "+18005550150");
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("echo", R"({"order":42})");
    const auto output = session->waitForFunctionOutput(id, 10000ms);
    ASSERT_TRUE(output);
    EXPECT_THAT(*output, HasSubstr(R"("arguments":{"order":42})"));
    EXPECT_THAT(*output, HasSubstr(R"("caller":"+14155550100")"));
}

TEST_F(MisbehavingPluginTest, ToolExceptionReachesTheModelAsAnErrorOutput) {
    auto session = placeCall(env_, "rtc_throws", "+18005550150");
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("throws", "{}");
    const auto output = session->waitForFunctionOutput(id, 10000ms);
    ASSERT_TRUE(output);
    EXPECT_THAT(*output, HasSubstr(R"({"error":)"));
    EXPECT_THAT(*output, HasSubstr("the backend said no"));
    EXPECT_TRUE(session->waitForEvent("response.create", 5000ms, 2)); // the model is asked to go on
    EXPECT_TRUE(session->isConnected());
    EXPECT_TRUE(eventually([&] {
        return env_.host().metrics().value(metrics::name::kToolCalls,
                                           {{"tenant", "shaky"}, {"tool", "throws"}, {"outcome", "error"}}) == 1;
    }));
}

TEST_F(MisbehavingPluginTest, ToolTimeoutReachesTheModelAsAnErrorOutput) {
    auto session = placeCall(env_, "rtc_hang", "+18005550150");
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("hang", R"({"ms":3000})");
    const auto output = session->waitForFunctionOutput(id, 10000ms);
    ASSERT_TRUE(output);
    EXPECT_THAT(*output, HasSubstr(R"({"error":)"));
    EXPECT_THAT(*output, HasSubstr("300 ms"));
    EXPECT_TRUE(eventually([&] {
        return env_.host().metrics().value(metrics::name::kToolCalls,
                                           {{"tenant", "shaky"}, {"tool", "hang"}, {"outcome", "timeout"}}) == 1;
    }));
    // The call goes on: another tool still answers while the hung one is abandoned.
    const auto next = session->sendFunctionCall("echo", "{}");
    EXPECT_TRUE(session->waitForFunctionOutput(next, 10000ms));
}

TEST_F(MisbehavingPluginTest, BrokenPluginStillAcceptsTheCallWithoutTools) {
    env_.addTenant("broken", "+18005550151", R"({"plugin":"throws_in_factory.so"})");
    const auto answer = env_.incomingCall("rtc_broken", "+18005550151");
    EXPECT_EQ(answer.body, R"({"ok":true,"accepted":true,"tenant_id":"broken","fallback":false})");
    const auto accept = env_.simulator().waitForRestRequest("rtc_broken", "accept", 5000ms);
    ASSERT_TRUE(accept);
    EXPECT_THAT(accept->body, Not(HasSubstr("tools")));
    auto session = env_.simulator().waitForSession("rtc_broken", 10000ms);
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("echo", "{}");
    EXPECT_THAT(session->waitForFunctionOutput(id, 10000ms),
                Optional(std::string(R"({"error":"no tools are available on this call"})")));
}

TEST_F(CallRoutingPluginTest, TransferProducesTheReferCall) {
    auto session = placeCall(env_, "rtc_transfer", "+18005550188");
    ASSERT_TRUE(session);
    session->sendFunctionCall("transfer_to_human", R"({"reason":"billing question"})");
    const auto refer = env_.simulator().waitForRestRequest("rtc_transfer", "refer", 10000ms);
    ASSERT_TRUE(refer);
    EXPECT_EQ(refer->path, "/v1/realtime/calls/rtc_transfer/refer");
    EXPECT_EQ(refer->body, R"({"target_uri":"tel:+14155550199"})");
    EXPECT_EQ(refer->idempotencyKey, "refer_rtc_transfer_1");
    // OpenAI takes the caller away: the socket closes and the slot is freed.
    EXPECT_TRUE(session->waitForClose(10000ms));
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    // The model is not asked to speak to a caller who has left; and OpenAI ended this call, so the
    // host sends no hangup of its own.
    for (const auto& create : session->responseCreates())
        EXPECT_TRUE(create.instructions) << "only the greeting";
    EXPECT_TRUE(env_.simulator().restRequests("rtc_transfer").size() == 2u) << "accept and refer only";
}

TEST_F(CallRoutingPluginTest, EndCallProducesTheHangupCall) {
    auto session = placeCall(env_, "rtc_bye", "+18005550188");
    ASSERT_TRUE(session);
    session->sendFunctionCall("end_call", "{}");
    const auto hangup = env_.simulator().waitForRestRequest("rtc_bye", "hangup", 10000ms);
    ASSERT_TRUE(hangup);
    EXPECT_EQ(hangup->idempotencyKey, "hangup_rtc_bye");
    EXPECT_TRUE(session->waitForClose(10000ms));
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    EXPECT_TRUE(eventually([&] { return !env_.host().store().findCall("rtc_bye")->endReason.empty(); }));
}

TEST_F(CallRoutingPluginTest, CallerHangingUpWithoutACloseFrameEndsTheCall) {
    auto session = placeCall(env_, "rtc_gone", "+18005550188");
    ASSERT_TRUE(session);
    ASSERT_TRUE(eventually([&] { return env_.host().ledger().total().active == 1; }));
    session->hangup(simulator::CloseMode::Abrupt);
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(env_.host().store(), "rtc_gone"), "disconnected");
    const auto record = env_.host().store().findCall("rtc_gone");
    EXPECT_TRUE(record->endedAt);
    EXPECT_EQ(
        env_.host().metrics().value(metrics::name::kCallsEnded, {{"tenant", "northwind"}, {"reason", "disconnected"}}),
        1);
}

// The host's sweeper (every 5 s) ends a call past SIDEBAND_MAX_CALL_S: its session closes, its slot
// is freed, and OpenAI, which still has the call, is told with one REST hangup.
TEST_F(CallEndToEndTest, ACallPastItsMaximumDurationIsClosedAndHungUpAtOpenAI) {
    HostWithSimulator env([](Settings& s) { s.maxCallSeconds = 1; });
    env.addTenant("acme", "+18005550123");
    auto session = placeCall(env, "rtc_long", "+18005550123");
    ASSERT_TRUE(session);
    const auto hangup = env.simulator().waitForRestRequest("rtc_long", "hangup", 15000ms);
    ASSERT_TRUE(hangup);
    EXPECT_EQ(hangup->idempotencyKey, "hangup_rtc_long");
    EXPECT_TRUE(session->waitForClose(10000ms));
    EXPECT_TRUE(eventually([&] { return env.host().ledger().total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(env.host().store(), "rtc_long"), "never_ended");
    // The simulator hears the hangup before the host has read its answer and counted it.
    EXPECT_TRUE(eventually([&] {
        return env.host().metrics().value(metrics::name::kHangups, {{"reason", "never_ended"}, {"result", "ok"}}) == 1;
    }));
}
