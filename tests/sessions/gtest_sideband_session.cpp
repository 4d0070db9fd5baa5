// Sideband sessions against the Realtime simulator over verified TLS: the session's frames, tool
// round trips, every way a call ends, and that each releases the call's slot.
#include "Eventually.h"
#include "FakeTenantStore.h"
#include "RecordedEnd.h"
#include "TestCertificates.h"

#include "RealtimeSimulator.h"
#include "calls/CallLedger.h"
#include "core/Json.h"
#include "metrics/SidebandMetrics.h"
#include "openai/OpenAIRestClient.h"
#include "sessions/SessionManager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Optional;

namespace {

const std::string kApiKey = "sk-test-session";

// Tools whose behaviour the test decides; counts invocations.
class ScriptedTools : public plugins::CallTools {
public:
    std::atomic<int> invocations{0};
    std::atomic<int> started{0};
    std::vector<plugins::ToolSpec> tools() const override {
        auto schema = json::object();
        schema->set("type", "object");
        return {{"lookup_order", "Look up an order", schema}};
    }
    using CallTools::invoke;
    void invoke(const plugins::ToolInvocation& invocation, Done done) override {
        ++invocations;
        {
            std::lock_guard lock(mutex_);
            functionCallIds_.push_back(invocation.functionCallId);
        }
        // Answer from another thread, as the real tool pool does.
        std::thread([name = invocation.name, arguments = invocation.argumentsJson, done] {
            done(R"({"tool":")" + name + R"(","arguments":)" + arguments + "}");
        }).detach();
    }
    void callStarted() override { ++started; }
    // Told from the session's thread, after the slot is freed.
    void callEnded(const std::string& reason) override {
        std::lock_guard lock(mutex_);
        endedReasons_.push_back(reason);
    }
    std::vector<std::string> endedReasons() {
        std::lock_guard lock(mutex_);
        return endedReasons_;
    }
    std::vector<std::string> functionCallIds() {
        std::lock_guard lock(mutex_);
        return functionCallIds_;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> endedReasons_;
    std::vector<std::string> functionCallIds_;
};

class SidebandSessionTest : public ::testing::Test {
protected:
    SidebandSessionTest() {
        metrics::declareSidebandMetrics(metrics_);
        simulator::SimulatorOptions options;
        options.tlsCert = TestCertificates::shared().certFile();
        options.tlsKey = TestCertificates::shared().keyFile();
        options.expectedApiKey = kApiKey;
        simulator_ = std::make_unique<simulator::RealtimeSimulator>(options);
        simulator_->start();
    }
    ~SidebandSessionTest() override {
        if (manager_) manager_->stop();
        simulator_->stop();
    }

    sessions::SessionManager& manager(const std::string& caFile = TestCertificates::shared().caFile()) {
        if (!manager_) {
            sessions::SessionOptions options;
            options.baseUrl = simulator_->baseUrl();
            options.apiKey = kApiKey;
            options.caFile = caFile;
            options.connectTimeout = connectTimeout_;
            options.workers = workers_;
            options.connectors = connectors_;
            manager_ =
                std::make_unique<sessions::SessionManager>(options, ledger_, store_, metrics_, clock_, &restClient());
        }
        return *manager_;
    }

    // What the pipeline does before handing a call over: reserve its slot, then launch.
    std::shared_ptr<simulator::SimulatedSession> launch(const std::string& callId = "rtc_s1",
                                                        std::chrono::milliseconds wait = 5000ms) {
        ledger_.reserve(callId, "acme", {10, 10});
        manager().launch(acceptedCall(callId));
        return simulator_->waitForSession(callId, wait);
    }

    calls::AcceptedCall acceptedCall(const std::string& callId, std::shared_ptr<ScriptedTools> tools = nullptr) const {
        calls::AcceptedCall call;
        call.callId = callId;
        call.webhookId = "wh_" + callId;
        call.tenantId = "acme";
        call.instructions = {"You are Acme's assistant.", "Welcome to Acme!"};
        call.tools = tools ? tools : tools_;
        return call;
    }

    std::chrono::milliseconds connectTimeout_ = 3000ms;
    int workers_ = 4;
    int connectors_ = 8;
    ManualClock clock_{std::chrono::seconds{1750000000}};
    FakeTenantStore store_;
    calls::InMemoryCallLedger ledger_{clock_};
    metrics::MetricsRegistry metrics_;
    std::shared_ptr<ScriptedTools> tools_ = std::make_shared<ScriptedTools>();
    std::unique_ptr<simulator::RealtimeSimulator> simulator_;
    std::unique_ptr<openai::OpenAIRestClient> rest_;
    std::unique_ptr<sessions::SessionManager> manager_;

    // Call control on the simulator (for the hangups of calls the host ends).
    openai::CallControl& restClient() {
        openai::RestClientOptions rest;
        rest.baseUrl = simulator_->baseUrl();
        rest.apiKey = kApiKey;
        rest.caFile = TestCertificates::shared().caFile();
        rest.totalTimeout = 2000ms;
        rest_ = std::make_unique<openai::OpenAIRestClient>(rest);
        return *rest_;
    }

    // The REST hangups the simulator received for a call, once the host has had time to send them.
    std::vector<simulator::RestRequest> hangups(const std::string& callId) {
        std::vector<simulator::RestRequest> found;
        for (const auto& request : simulator_->restRequests(callId))
            if (request.action == "hangup") found.push_back(request);
        return found;
    }
    double hangupsCounted(const std::string& reason) {
        return metrics_.value(metrics::name::kHangups, {{"reason", reason}, {"result", "ok"}});
    }
};

} // namespace

TEST_F(SidebandSessionTest, ConfiguresTheSessionThenGreets) {
    auto session = launch();
    ASSERT_TRUE(session);
    const auto update = session->waitForEvent("session.update", 5000ms);
    ASSERT_TRUE(update);
    EXPECT_EQ(update->json,
              R"({"type":"session.update","session":{"type":"realtime",)"
              R"("instructions":"You are Acme's assistant.","tools":[{"type":"function",)"
              R"("name":"lookup_order","description":"Look up an order","parameters":{"type":"object"}}],)"
              R"("tool_choice":"auto"}})");
    const auto greeting = session->waitForEvent("response.create", 5000ms);
    ASSERT_TRUE(greeting);
    EXPECT_EQ(greeting->json, R"({"type":"response.create","response":{"instructions":"You are Acme's assistant.\n\n)"
                              R"(Start the call now: greet the caller with \"Welcome to Acme!\""}})");
    EXPECT_LT(update->at, greeting->at);
}

TEST_F(SidebandSessionTest, ConnectPromotesThePendingSlotAndTellsThePlugin) {
    ASSERT_TRUE(launch());
    EXPECT_TRUE(eventually([&] { return ledger_.total().active == 1 && ledger_.total().pending == 0; }));
    EXPECT_TRUE(eventually([&] { return tools_->started == 1; }));
}

TEST_F(SidebandSessionTest, ToolCallRoundTripWithExactFrames) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms));
    const auto id = session->sendFunctionCall("lookup_order", R"({"order":42})", "call_fn_1");
    EXPECT_THAT(session->waitForFunctionOutput(id, 5000ms),
                Optional(std::string(R"({"tool":"lookup_order","arguments":{"order":42}})")));
    const auto item = session->waitForEvent("conversation.item.create", 5000ms);
    ASSERT_TRUE(item);
    EXPECT_EQ(item->json,
              R"({"type":"conversation.item.create","item":{"type":"function_call_output",)"
              R"("call_id":"call_fn_1","output":"{\"tool\":\"lookup_order\",\"arguments\":{\"order\":42}}"}})");
    const auto next = session->waitForEvent("response.create", 5000ms, 2);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->json, R"({"type":"response.create"})");
    EXPECT_LT(item->at, next->at);
}

TEST_F(SidebandSessionTest, TheToolIsGivenTheFunctionCallsCallId) {
    auto tools = std::make_shared<ScriptedTools>();
    tools_ = tools;
    auto session = launch();
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("lookup_order", "{}", "call_fn_idem");
    ASSERT_TRUE(session->waitForFunctionOutput(id, 5000ms));
    EXPECT_EQ(tools->functionCallIds(), std::vector<std::string>{"call_fn_idem"});
}

TEST_F(SidebandSessionTest, SameFunctionCallInThreeEventsRunsOnce) {
    auto session = launch();
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("lookup_order", R"({"order":1})");
    ASSERT_TRUE(session->waitForFunctionOutput(id, 5000ms));
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms, 2)); // the output's follow-up
    std::this_thread::sleep_for(200ms); // let the later copies of the call arrive and be ignored
    EXPECT_EQ(tools_->invocations, 1);
    EXPECT_EQ(session->receivedEvents().size(), 4u); // session.update, greeting, output, response.create
}

TEST_F(SidebandSessionTest, CallWithoutToolsAnswersFunctionCallsWithAnError) {
    tools_.reset();
    auto session = launch();
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("lookup_order", "{}");
    EXPECT_THAT(session->waitForFunctionOutput(id, 5000ms),
                Optional(std::string(R"({"error":"no tools are available on this call"})")));
}

TEST_F(SidebandSessionTest, IgnoresUnknownEventsAndHarmlessErrors) {
    auto session = launch();
    ASSERT_TRUE(session);
    session->sendRaw(R"({"type":"response.output_audio.delta","event_id":"e1","delta":"AAAA"})");
    session->sendRaw(R"({"type":"something.new","event_id":"e2"})");
    session->sendRaw("not json at all");
    session->sendError("conversation_already_has_active_response", "busy");
    const auto id = session->sendFunctionCall("lookup_order", R"({"order":7})");
    EXPECT_TRUE(session->waitForFunctionOutput(id, 5000ms));
    EXPECT_TRUE(session->isConnected());
}

TEST_F(SidebandSessionTest, TranscriptsGoIntoTheCallRecord) {
    auto session = launch();
    ASSERT_TRUE(session);
    session->sendTranscript("caller", "I'd like to check my order.");
    session->sendTranscript("agent", "Sure, what is the order number?");
    // Besides what the model said for the greeting (the simulator's spoken reply).
    const auto said = [&](const std::string& speaker, const std::string& text) {
        for (const auto& line : store_.transcript("rtc_s1"))
            if (line.speaker == speaker && line.text == text) return true;
        return false;
    };
    EXPECT_TRUE(eventually([&] { return said("caller", "I'd like to check my order."); }));
    EXPECT_TRUE(eventually([&] { return said("agent", "Sure, what is the order number?"); }));
}

TEST_F(SidebandSessionTest, SocketDroppedWithoutCloseFrameReleasesTheSlot) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms)); // configured and greeted
    session->hangup(simulator::CloseMode::Abrupt);
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(store_, "rtc_s1"), "disconnected");
    EXPECT_EQ(metrics_.value(metrics::name::kCallsEnded, {{"tenant", "acme"}, {"reason", "disconnected"}}), 1);
    EXPECT_TRUE(eventually([&] { return manager().activeSessions() == 0; }));
    EXPECT_TRUE(eventually([&] { return !tools_->endedReasons().empty(); }));
    EXPECT_EQ(tools_->endedReasons(), std::vector<std::string>{"disconnected"});
}

TEST_F(SidebandSessionTest, CloseFrameEndsTheCallCleanly) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms));
    session->hangup(simulator::CloseMode::CloseFrame);
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(store_, "rtc_s1"), "closed");
}

TEST_F(SidebandSessionTest, CallerGoneBeforeSetupIsADisconnect) {
    auto session = launch();
    ASSERT_TRUE(session);
    session->hangup(simulator::CloseMode::Reset); // possibly before the host's first frame
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(store_, "rtc_s1"), "disconnected");
}

TEST_F(SidebandSessionTest, ConnectionResetEndsTheCall) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 1; }));
    session->hangup(simulator::CloseMode::Reset);
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
}

TEST_F(SidebandSessionTest, EndedWebhookClosesTheSession) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms));
    manager().endCall("rtc_s1", "ended");
    EXPECT_TRUE(session->waitForClose(5000ms));
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(store_, "rtc_s1"), "ended");
}

TEST_F(SidebandSessionTest, LaterSessionsResumeTheTlsSessionOfEarlierOnes) {
    ASSERT_TRUE(launch("rtc_first"));
    EXPECT_EQ(simulator_->resumedTlsUpgrades(), 0u); // nothing to resume yet: a full handshake
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 1; }));
    ASSERT_TRUE(launch("rtc_second"));
    ASSERT_TRUE(launch("rtc_third"));
    EXPECT_EQ(simulator_->resumedTlsUpgrades(), 2u);
}

TEST_F(SidebandSessionTest, ConnectRefusedReleasesTheSlot) {
    simulator_->refuseSessions(true);
    launch("rtc_s1", 0ms);
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(store_, "rtc_s1"), "session_connect_failed");
    EXPECT_EQ(metrics_.value(metrics::name::kSessions, {{"outcome", "connect_failed"}, {"channel", "sip"}}), 1);
}

// --- the turn protocol: no dead air, nothing said over the caller ------------------------------

TEST_F(SidebandSessionTest, AnInstantToolsOutputIsFollowedByOneResponseCreateAfterItsResponseIsDone) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms)); // the greeting
    const auto id = session->sendFunctionCall("lookup_order", R"({"order":42})", "call_fast");
    ASSERT_TRUE(session->waitForFunctionOutput(id, 5000ms));
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms, 2));
    std::this_thread::sleep_for(200ms); // a second response.create would come now
    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 2u);
    EXPECT_FALSE(creates[1].refused) << "sent while the response that called the tool was still active";
    const auto stats = session->turnStats();
    EXPECT_EQ(stats.responseCreatesRefused, 0u);
    EXPECT_EQ(stats.deadAir, 0u);
    EXPECT_EQ(stats.extraResponseCreates, 0u);
    EXPECT_THAT(session->failures(), ::testing::IsEmpty());
    EXPECT_EQ(tools_->invocations, 1);
    EXPECT_EQ(metrics_.value(metrics::name::kFunctionOutputs), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kResponseCreateRetries), 0);
}

TEST_F(SidebandSessionTest, TwoParallelFunctionCallsGetTwoOutputsThenOneResponseCreate) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms));
    const auto ids = session->sendFunctionCalls(
        {{"lookup_order", R"({"order":1})", "call_a"}, {"lookup_order", R"({"order":2})", "call_b"}});
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_THAT(session->waitForFunctionOutput("call_a", 5000ms),
                Optional(std::string(R"({"tool":"lookup_order","arguments":{"order":1}})")));
    EXPECT_THAT(session->waitForFunctionOutput("call_b", 5000ms),
                Optional(std::string(R"({"tool":"lookup_order","arguments":{"order":2}})")));
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms, 2));
    std::this_thread::sleep_for(200ms);
    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 2u) << "one response.create for both outputs";
    for (const auto& call : session->functionCalls())
        EXPECT_LT(call.outputAt, creates[1].at) << call.callId << "'s output comes before the response.create";
    const auto stats = session->turnStats();
    EXPECT_EQ(stats.responseCreatesRefused, 0u);
    EXPECT_EQ(stats.extraResponseCreates, 0u);
    EXPECT_EQ(stats.deadAir, 0u);
    EXPECT_EQ(tools_->invocations, 2);
}

TEST_F(SidebandSessionTest, ABargedInResponsesFunctionCallIsNotRunAndNothingIsSaidOverTheCaller) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms));
    const auto id = session->sendBargeIn("lookup_order", R"({"order":9})", "call_barged", 300ms, "Wait, no.");
    EXPECT_FALSE(session->waitForFunctionOutput(id, 600ms));
    EXPECT_EQ(tools_->invocations, 0);
    EXPECT_EQ(session->responseCreates().size(), 1u) << "only the greeting";
    EXPECT_EQ(session->turnStats().bargeInViolations, 0u);
    EXPECT_THAT(session->failures(), ::testing::IsEmpty());
    EXPECT_TRUE(eventually([&] {
        return metrics_.value(metrics::name::kFunctionCallsSkipped, {{"reason", "cancelled"}}) == 1;
    }));
    EXPECT_EQ(metrics_.value(metrics::name::kRealtimeResponses, {{"status", "cancelled"}}), 1);
}

// A tool whose answer waits until the test lets it go.
class GatedTools : public ScriptedTools {
public:
    std::promise<void> release;
    using CallTools::invoke;
    void invoke(const plugins::ToolInvocation&, Done done) override {
        ++invocations;
        std::thread([future = release.get_future().share(), done] {
            future.wait();
            done(R"({"ok":true})");
        }).detach();
    }
};

TEST_F(SidebandSessionTest, AnOutputReadyWhileAnotherResponseRunsIsFollowedByResponseCreateAfterThatResponse) {
    auto tools = std::make_shared<GatedTools>();
    ledger_.reserve("rtc_s1", "acme", {10, 10});
    manager().launch(acceptedCall("rtc_s1", tools));
    auto session = simulator_->waitForSession("rtc_s1", 5000ms);
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms));
    ASSERT_TRUE(session->waitForResponseDone(session->responseCreates().at(0).responseId, 5000ms));
    const auto id = session->sendFunctionCall("lookup_order", "{}", "call_slow");
    ASSERT_TRUE(eventually([&] { return tools->invocations == 1; }));
    // The caller speaks; the API starts a response of its own while the tool still runs.
    session->sendRaw(
        R"({"type":"response.created","event_id":"e1","response":{"id":"resp_turn","status":"in_progress"}})");
    std::this_thread::sleep_for(100ms);
    tools->release.set_value();
    ASSERT_TRUE(session->waitForFunctionOutput(id, 5000ms));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(session->responseCreates().size(), 1u) << "not while resp_turn runs";
    session->sendRaw(
        R"({"type":"response.done","event_id":"e2","response":{"id":"resp_turn","status":"completed","output":[]}})");
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms, 2));
    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 2u);
    EXPECT_FALSE(creates[1].refused);
    EXPECT_LT(session->functionCalls().back().outputAt, creates[1].at);
}

TEST_F(SidebandSessionTest, TheGreetingIsSpokenUnderTheTenantsInstructions) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms));
    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 1u);
    EXPECT_EQ(creates[0].sessionInstructions, "You are Acme's assistant.");
    ASSERT_TRUE(creates[0].instructions);
    // A response's instructions replace the session's: the tenant's must be in them.
    EXPECT_THAT(*creates[0].instructions, ::testing::StartsWith("You are Acme's assistant."));
    EXPECT_THAT(*creates[0].instructions, HasSubstr("Welcome to Acme!"));
    EXPECT_FALSE(creates[0].refused);
}

TEST_F(SidebandSessionTest, AResponseCreateRefusedAsConflictingIsSentAgainAfterTheActiveResponse) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms)); // the greeting
    ASSERT_TRUE(session->waitForResponseDone(session->responseCreates().at(0).responseId, 5000ms));
    // The caller spoke first: the API had a response running and dropped the greeting.
    session->sendRaw(
        R"({"type":"response.created","event_id":"e1","response":{"id":"resp_vad","status":"in_progress"}})");
    session->sendError("conversation_already_has_active_response",
                       "Conversation already has an active response in progress: resp_vad.");
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(session->responseCreates().size(), 1u) << "not again while resp_vad runs";
    session->sendRaw(
        R"({"type":"response.done","event_id":"e2","response":{"id":"resp_vad","status":"completed","output":[]}})");
    ASSERT_TRUE(session->waitForEvent("response.create", 5000ms, 2));
    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 2u);
    EXPECT_EQ(creates[1].instructions, creates[0].instructions) << "the greeting, sent again";
    EXPECT_EQ(metrics_.value(metrics::name::kResponseCreateRetries), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kRealtimeErrors, {{"code", "conversation_already_has_active_response"}}),
              1);
}

// --- calls the host ends itself are hung up at OpenAI, once; calls OpenAI ended are not --------

TEST_F(SidebandSessionTest, AConnectFailureAfterAcceptHangsUpTheCallAtOpenAI) {
    simulator_->refuseSessions(true);
    launch("rtc_s1", 0ms);
    ASSERT_TRUE(simulator_->waitForRestRequest("rtc_s1", "hangup", 5000ms));
    EXPECT_TRUE(eventually([&] { return hangupsCounted("session_connect_failed") == 1; }));
    std::this_thread::sleep_for(200ms); // a second one would come now
    const auto sent = hangups("rtc_s1");
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].idempotencyKey, "hangup_rtc_s1");
    EXPECT_EQ(metrics_.value(metrics::name::kSessionConnectFailures, {{"reason", "upgrade_refused"}}), 1);
}

TEST_F(SidebandSessionTest, TheSweepersMaximumDurationClosesTheSessionAndHangsUp) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 1; }));
    manager().hangUp("rtc_s1", "acme", "never_ended");
    EXPECT_TRUE(session->waitForClose(5000ms));
    ASSERT_TRUE(simulator_->waitForRestRequest("rtc_s1", "hangup", 5000ms));
    EXPECT_TRUE(eventually([&] { return hangupsCounted("never_ended") == 1; }));
    EXPECT_EQ(hangups("rtc_s1").size(), 1u);
    EXPECT_EQ(recordedEndReason(store_, "rtc_s1"), "never_ended");
}

TEST_F(SidebandSessionTest, ACallThatNeverConnectedIsHungUpWhenTheSweeperFreesIt) {
    manager().hangUp("rtc_never", "acme", "never_started");
    const auto hangup = simulator_->waitForRestRequest("rtc_never", "hangup", 5000ms);
    ASSERT_TRUE(hangup);
    EXPECT_EQ(hangup->idempotencyKey, "hangup_rtc_never");
}

TEST_F(SidebandSessionTest, StoppingWithCallsOpenHangsThemUp) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 1; }));
    manager().stop();                        // the drain deadline passed
    EXPECT_EQ(hangups("rtc_s1").size(), 1u); // sent before stop() returned
    EXPECT_EQ(hangupsCounted("shutdown"), 1);
}

TEST_F(SidebandSessionTest, AnUnrecoverableSessionErrorHangsUpTheCall) {
    auto session = launch();
    ASSERT_TRUE(session);
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 1; }));
    // A message over the host's 4 MiB limit: the WebSocket cannot go on (close 1009).
    session->sendRaw(R"({"type":"response.output_audio.delta","delta":")" + std::string(5 << 20, 'A') + R"("})");
    const auto hangup = simulator_->waitForRestRequest("rtc_s1", "hangup", 10000ms);
    ASSERT_TRUE(hangup);
    EXPECT_EQ(hangup->idempotencyKey, "hangup_rtc_s1");
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(store_, "rtc_s1"), "protocol_error");
    EXPECT_TRUE(eventually([&] { return hangupsCounted("protocol_error") == 1; }));
}

TEST_F(SidebandSessionTest, AnEndedWebhookOrThePeersCloseSendsNoHangup) {
    auto first = launch("rtc_s1");
    auto second = launch("rtc_s2");
    ASSERT_TRUE(first && second);
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 2; }));
    manager().endCall("rtc_s1", "ended");
    second->hangup(simulator::CloseMode::Abrupt);
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(hangups("rtc_s1").empty());
    EXPECT_TRUE(hangups("rtc_s2").empty());
}

TEST_F(SidebandSessionTest, ToolCallsOfOpenCallsAreAnsweredWhileEveryConnectorWaitsForAnUpgrade) {
    workers_ = 1;
    connectors_ = 2;
    connectTimeout_ = 60000ms; // the held connects wait for the release, not for a timeout
    auto open = launch("rtc_open");
    ASSERT_TRUE(open);
    ASSERT_TRUE(open->waitForEvent("response.create", 5000ms));
    simulator_->holdUpgrades(true);
    ledger_.reserve("rtc_held_1", "acme", {10, 10});
    ledger_.reserve("rtc_held_2", "acme", {10, 10});
    manager().launch(acceptedCall("rtc_held_1", std::make_shared<ScriptedTools>()));
    manager().launch(acceptedCall("rtc_held_2", std::make_shared<ScriptedTools>()));
    ASSERT_TRUE(eventually([&] { return simulator_->heldUpgrades() == 2; }));
    const auto id = open->sendFunctionCall("lookup_order", R"({"order":7})", "call_fn_7");
    EXPECT_THAT(open->waitForFunctionOutput(id, 10000ms),
                Optional(std::string(R"({"tool":"lookup_order","arguments":{"order":7}})")));
    simulator_->holdUpgrades(false);
    EXPECT_TRUE(simulator_->waitForSession("rtc_held_2", 10000ms));
}

TEST_F(SidebandSessionTest, ACallEndedWhileItsConnectWaitedIsNeverConnected) {
    connectors_ = 1;
    connectTimeout_ = 60000ms;
    simulator_->holdUpgrades(true);
    ledger_.reserve("rtc_held", "acme", {10, 10});
    manager().launch(acceptedCall("rtc_held", std::make_shared<ScriptedTools>())); // takes the only connector
    ASSERT_TRUE(eventually([&] { return simulator_->heldUpgrades() == 1; }));
    ledger_.reserve("rtc_gone", "acme", {10, 10});
    manager().launch(acceptedCall("rtc_gone")); // queued behind it
    manager().endCall("rtc_gone", "ended");
    EXPECT_EQ(recordedEndReason(store_, "rtc_gone"), "ended");
    ASSERT_TRUE(eventually([&] { return !tools_->endedReasons().empty(); })); // told after the record is written
    ASSERT_THAT(tools_->endedReasons(), ::testing::ElementsAre("ended"));
    ledger_.reserve("rtc_after", "acme", {10, 10});
    auto afterTools = std::make_shared<ScriptedTools>();
    manager().launch(acceptedCall("rtc_after", afterTools)); // queued behind both
    simulator_->holdUpgrades(false);
    // One connector, in order: once rtc_after has started, rtc_gone's turn has passed.
    ASSERT_TRUE(eventually([&] { return afterTools->started == 1; }));
    EXPECT_EQ(simulator_->waitForSession("rtc_gone", 0ms), nullptr);
    EXPECT_EQ(tools_->started, 0) << "rtc_gone's plugin heard callEnded, and must not hear callStarted after it";
}

TEST_F(SidebandSessionTest, UntrustedServerCertificateIsRefused) {
    TestCertificates otherCa; // a CA that did not sign the simulator's certificate
    manager(otherCa.caFile());
    launch("rtc_s1", 0ms);
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    EXPECT_EQ(simulator_->openSessions(), 0u);
}

TEST_F(SidebandSessionTest, ToolOutputAfterTheCallEndedIsDropped) {
    class SlowTools : public ScriptedTools {
    public:
        using CallTools::invoke;
        void invoke(const plugins::ToolInvocation&, Done done) override {
            std::thread([done] {
                std::this_thread::sleep_for(300ms);
                done(R"({"late":true})");
            }).detach();
        }
    };
    tools_ = std::make_shared<SlowTools>();
    auto session = launch();
    ASSERT_TRUE(session);
    session->sendFunctionCall("lookup_order", "{}");
    session->hangup(simulator::CloseMode::Abrupt);
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 0; }));
    std::this_thread::sleep_for(500ms); // the late output must not crash or resurrect anything
    EXPECT_EQ(manager().activeSessions(), 0u);
}

namespace {

// Answers every tool call at once, on the thread that asked: the fastest a tool can be.
class InstantTools : public plugins::CallTools {
public:
    std::atomic<int> invocations{0};
    std::vector<plugins::ToolSpec> tools() const override {
        auto schema = json::object();
        schema->set("type", "object");
        return {{"lookup_order", "Look up an order", schema}};
    }
    using CallTools::invoke;
    void invoke(const plugins::ToolInvocation& invocation, Done done) override {
        ++invocations;
        done(invocation.argumentsJson);
    }
};

// The same sessions over a hostile network: the simulator splits its frames into 1-byte TCP
// writes, pings, or goes silent without a FIN; the host pings often so a test sees it decide.
class SessionNetworkTest : public SidebandSessionTest {
protected:
    void restartSimulator(bool splitFrames, std::chrono::milliseconds simulatorPings,
                          std::chrono::milliseconds splitDelay = 1ms, bool tls = true) {
        simulator_->stop();
        simulator::SimulatorOptions options;
        if (tls) {
            options.tlsCert = TestCertificates::shared().certFile();
            options.tlsKey = TestCertificates::shared().keyFile();
        }
        options.expectedApiKey = kApiKey;
        options.splitFrames = splitFrames;
        options.splitFrameDelay = splitDelay;
        options.pingInterval = simulatorPings;
        options.recordTraffic = true;
        simulator_ = std::make_unique<simulator::RealtimeSimulator>(options);
        simulator_->start();
    }

    sessions::SessionManager& pingingManager(std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
        if (manager_) manager_->stop();
        manager_.reset(); // before the REST client it uses is replaced
        sessions::SessionOptions options;
        options.baseUrl = simulator_->baseUrl();
        options.apiKey = kApiKey;
        options.caFile = TestCertificates::shared().caFile();
        options.connectTimeout = 20s;
        options.pingInterval = interval;
        options.pingTimeout = timeout;
        manager_ =
            std::make_unique<sessions::SessionManager>(options, ledger_, store_, metrics_, clock_, &restClient());
        return *manager_;
    }

    static std::size_t outputsFor(const simulator::SimulatedSession& session, const std::string& functionCallId) {
        std::size_t outputs = 0;
        for (const auto& event : session.receivedEvents())
            if (event.type == "conversation.item.create" &&
                event.json.find(R"("call_id":")" + functionCallId + "\"") != std::string::npos)
                ++outputs;
        return outputs;
    }
};

} // namespace

TEST_F(SessionNetworkTest, FramesSplitIntoOneByteWritesAreReadWholeAndTheCallGoesOn) {
    restartSimulator(true, 0ms);
    pingingManager(200ms, 2000ms);
    auto session = launch("rtc_split");
    ASSERT_TRUE(session);
    const auto id = session->sendFunctionCall("lookup_order", R"({"order":7})", "call_split_1");
    EXPECT_THAT(session->waitForFunctionOutput(id, 10000ms),
                Optional(std::string(R"({"tool":"lookup_order","arguments":{"order":7}})")));
    std::this_thread::sleep_for(1s); // several of the host's pings while frames trickle in
    EXPECT_EQ(ledger_.total().active, 1) << "a slow frame is not a dead peer";
    EXPECT_TRUE(tools_->endedReasons().empty());
    EXPECT_EQ(metrics_.value(metrics::name::kSessionPingTimeouts), 0);
}

TEST_F(SessionNetworkTest, TheHostAnswersThePeersPingsAndPingsItself) {
    restartSimulator(false, 100ms);
    pingingManager(100ms, 2000ms);
    auto session = launch("rtc_pings");
    ASSERT_TRUE(session);
    EXPECT_TRUE(eventually([&] { return simulator_->pongsReceived("rtc_pings") >= 3; }, 10s));
    EXPECT_TRUE(eventually([&] { return simulator_->pingsReceived("rtc_pings") >= 3; }, 10s));
    EXPECT_EQ(ledger_.total().active, 1);
    EXPECT_TRUE(tools_->endedReasons().empty());
}

TEST_F(SessionNetworkTest, ABlackHoledPeerEndsTheCallAsPeerUnresponsiveWithItsSlotBack) {
    restartSimulator(false, 0ms);
    pingingManager(200ms, 300ms);
    auto healthy = launch("rtc_alive");
    auto silent = launch("rtc_silent");
    ASSERT_TRUE(healthy && silent);
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 2; }));
    ASSERT_TRUE(simulator_->blackHole("rtc_silent"));
    EXPECT_TRUE(silent->waitForClose(25s)) << "the host closed the dead connection";
    EXPECT_TRUE(eventually([&] { return ledger_.total().inUse() == 1; }, 25s));
    EXPECT_EQ(recordedEndReason(store_, "rtc_silent"), "peer_unresponsive");
    EXPECT_THAT(tools_->endedReasons(), ::testing::ElementsAre("peer_unresponsive"));
    EXPECT_EQ(metrics_.value(metrics::name::kSessionPingTimeouts), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kCallsEnded, {{"tenant", "acme"}, {"reason", "peer_unresponsive"}}), 1);
    std::this_thread::sleep_for(600ms); // more pings: the healthy call answers them and stays
    EXPECT_EQ(ledger_.total().active, 1);
}

TEST_F(SessionNetworkTest, ABlackHoledPeersCallIsHungUpAtOpenAI) {
    restartSimulator(false, 0ms);
    pingingManager(200ms, 300ms);
    auto silent = launch("rtc_silent");
    ASSERT_TRUE(silent);
    ASSERT_TRUE(eventually([&] { return ledger_.total().active == 1; }));
    ASSERT_TRUE(simulator_->blackHole("rtc_silent"));
    const auto hangup = simulator_->waitForRestRequest("rtc_silent", "hangup", 25s);
    ASSERT_TRUE(hangup) << "the caller is not left on a line nobody serves";
    EXPECT_EQ(hangup->idempotencyKey, "hangup_rtc_silent");
    EXPECT_TRUE(eventually([&] { return hangupsCounted("peer_unresponsive") == 1; }));
}

TEST_F(SessionNetworkTest, ManyConcurrentCallsWithSplitFramesGetExactlyOneOutputPerFunctionCall) {
#if defined(__SANITIZE_ADDRESS__)
    constexpr int kCalls = 100;
#else
    constexpr int kCalls = 500;
#endif
    // Plain ws://: a 1-byte TLS record per byte makes the simulator, not the host, the bottleneck
    // (split frames over TLS are the first test's).
    restartSimulator(true, 0ms, 0ms, false);
    pingingManager(5000ms, 10000ms);
    auto tools = std::make_shared<InstantTools>();
    std::vector<std::shared_ptr<simulator::SimulatedSession>> sessions;
    for (int i = 0; i < kCalls; ++i) {
        const auto callId = "rtc_many_" + std::to_string(i);
        ledger_.reserve(callId, "acme", {kCalls, kCalls});
        auto call = acceptedCall(callId);
        call.tools = tools;
        manager_->launch(std::move(call));
    }
    for (int i = 0; i < kCalls; ++i) {
        auto session = simulator_->waitForSession("rtc_many_" + std::to_string(i), 60s);
        ASSERT_TRUE(session) << i;
        sessions.push_back(session);
    }
    std::vector<std::string> ids;
    for (auto& session : sessions)
        ids.push_back(session->sendFunctionCall("lookup_order", R"({"order":1})"));
    for (std::size_t i = 0; i < sessions.size(); ++i)
        ASSERT_TRUE(sessions[i]->waitForFunctionOutput(ids[i], 120s)) << i;
    std::this_thread::sleep_for(500ms); // later copies of each call (three events each) are ignored
    for (std::size_t i = 0; i < sessions.size(); ++i)
        EXPECT_EQ(outputsFor(*sessions[i], ids[i]), 1u) << i;
    EXPECT_EQ(tools->invocations, kCalls);
    EXPECT_EQ(ledger_.total().active, kCalls);
}
