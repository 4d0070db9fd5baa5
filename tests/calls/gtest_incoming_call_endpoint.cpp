// The incoming-call path end to end: the real host (HTTPS, SQLite, plugins) and the Realtime
// simulator as OpenAI. One test per response example in the spec, each asserting the webhook
// answer, the REST calls OpenAI received, the slots held, the call record and the metrics.
#include "FakeSessionLauncher.h"
#include "FakeTenantStore.h"
#include "HostWithSimulator.h"
#include "RecordedEnd.h"
#include "TestCertificates.h"

#include "metrics/SidebandMetrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

class IncomingCallEndpointTest : public ::testing::Test {
protected:
    explicit IncomingCallEndpointTest(const std::function<void(Settings&)>& tune = {},
                                      std::unique_ptr<tenants::TenantStore> store = nullptr)
        : ownStore_(store != nullptr), env_(tune, std::move(store)) {}

    void SetUp() override {
        if (!ownStore_) // the SQLite store of the environment; a given store brings its own tenants
            env_.addTenant("tenant_123", "+18005550123", R"({"model":"gpt-realtime","voice":"marin"})");
    }

    std::vector<simulator::RestRequest> rest(const std::string& callId) {
        return env_.simulator().restRequests(callId);
    }
    double metric(const char* name, const metrics::Labels& labels) { return env_.host().metrics().value(name, labels); }

    const bool ownStore_;
    HostWithSimulator env_;
};

} // namespace

TEST_F(IncomingCallEndpointTest, SuccessfulAcceptance) {
    const auto answer = env_.incomingCall("rtc_ok");
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})");

    const auto requests = rest("rtc_ok");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].path, "/v1/realtime/calls/rtc_ok/accept");
    EXPECT_EQ(requests[0].idempotencyKey, "accept_" + env_.host().store().findCall("rtc_ok")->webhookId);
    EXPECT_EQ(requests[0].authorization, std::string("Bearer ") + HostWithSimulator::kApiKey);
    EXPECT_EQ(requests[0].body,
              R"({"type":"realtime","model":"gpt-realtime",)"
              R"("instructions":"You are a helpful receptionist.","audio":{"output":{"voice":"marin"}}})");
    EXPECT_TRUE(requests[0].warnings.empty());

    // The session opens after accept and holds the slot as active.
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().active == 1; }));
    EXPECT_EQ(env_.host().ledger().total().pending, 0);
    const auto record = env_.host().store().findCall("rtc_ok");
    ASSERT_TRUE(record);
    EXPECT_EQ(record->outcome, "accepted");
    EXPECT_EQ(record->tenantId, "tenant_123");
    EXPECT_EQ(record->caller, "+14155550100");
    EXPECT_EQ(record->dialed, "+18005550123");
    EXPECT_EQ(metric(metrics::name::kCallsAccepted, {{"tenant", "tenant_123"}, {"channel", "sip"}}), 1);
}

TEST_F(IncomingCallEndpointTest, RejectedCapacity) {
    env_.addTenant("tiny", "+18005550001", "{}", 1);
    ASSERT_THAT(env_.incomingCall("rtc_c1", "+18005550001").body, HasSubstr(R"("accepted":true)"));
    const auto answer = env_.incomingCall("rtc_c2", "+18005550001");
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, R"({"ok":true,"rejected":"capacity"})");
    const auto requests = rest("rtc_c2");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].action, "reject");
    EXPECT_EQ(requests[0].body, R"({"status_code":486})");
    EXPECT_EQ(requests[0].idempotencyKey, "reject_" + env_.host().store().findCall("rtc_c2")->webhookId);
    EXPECT_EQ(env_.host().ledger().byTenant()["tiny"].inUse(), 1); // only the first call
    EXPECT_EQ(env_.host().store().findCall("rtc_c2")->rejectReason, "capacity");
    EXPECT_EQ(metric(metrics::name::kCallsRejected, {{"tenant", "tiny"}, {"reason", "capacity"}}), 1);
}

TEST_F(IncomingCallEndpointTest, RejectedTenantResolveFailed) {
    const auto answer = env_.incomingCall("rtc_u", "+19995550100");
    EXPECT_EQ(answer.body, R"({"ok":true,"rejected":"tenant_resolve_failed"})");
    const auto requests = rest("rtc_u");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].body, R"({"status_code":603})");
    EXPECT_EQ(requests[0].idempotencyKey,
              "reject_tenant_resolve_failed_" + env_.host().store().findCall("rtc_u")->webhookId);
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
}

TEST_F(IncomingCallEndpointTest, RejectedTenantNotConfigured) {
    env_.addTenant("paused", "+18005550002", "{}", std::nullopt, /*enabled=*/false);
    const auto answer = env_.incomingCall("rtc_n", "+18005550002");
    EXPECT_EQ(answer.body, R"({"ok":true,"rejected":"tenant_not_configured"})");
    const auto requests = rest("rtc_n");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].idempotencyKey,
              "reject_tenant_not_configured_" + env_.host().store().findCall("rtc_n")->webhookId);
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    EXPECT_EQ(metric(metrics::name::kCallsRejected, {{"tenant", "paused"}, {"reason", "tenant_not_configured"}}), 1);
}

TEST_F(IncomingCallEndpointTest, RejectedInstructionsMissing) {
    env_.addTenant("bare", "+18005550003", "{}", std::nullopt, true, std::nullopt);
    const auto answer = env_.incomingCall("rtc_i", "+18005550003");
    EXPECT_EQ(answer.body, R"({"ok":true,"rejected":"instructions_missing"})");
    const auto requests = rest("rtc_i");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].idempotencyKey,
              "reject_instructions_missing_" + env_.host().store().findCall("rtc_i")->webhookId);
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
}

TEST_F(IncomingCallEndpointTest, DuplicateCall) {
    ASSERT_THAT(env_.incomingCall("rtc_d").body, HasSubstr(R"("accepted":true)"));
    const auto answer = env_.incomingCall("rtc_d"); // a new event for the same call
    EXPECT_EQ(answer.body, R"({"ok":true,"duplicate_call_id":true,"reason":"already_accepted"})");
    EXPECT_EQ(rest("rtc_d").size(), 1u); // one accept, nothing else
}

TEST_F(IncomingCallEndpointTest, RedeliveryIsDeduped) {
    simulator::IncomingCall call;
    call.callId = "rtc_r";
    const auto event = simulator::makeIncomingCallEvent(call);
    ASSERT_THAT(env_.sender().deliver(event).body, HasSubstr(R"("accepted":true)"));
    const auto again = env_.sender().deliver(event);
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.body, R"({"ok":true,"deduped":true})");
    EXPECT_EQ(rest("rtc_r").size(), 1u);
}

TEST_F(IncomingCallEndpointTest, IgnoredWithoutCallId) {
    const auto answer = env_.sender().deliver(
        simulator::makeRawEvent(R"({"object":"event","id":"evt_x","type":"realtime.call.incoming","data":{}})"));
    EXPECT_EQ(answer.body, R"({"ok":true,"ignored":true,"reason":"missing_call_id"})");
    EXPECT_TRUE(env_.simulator().restRequests().empty());
}

TEST_F(IncomingCallEndpointTest, CallEndedFreesTheSlotAndRecordsTheEnd) {
    ASSERT_THAT(env_.incomingCall("rtc_e").body, HasSubstr(R"("accepted":true)"));
    ASSERT_TRUE(eventually([&] { return env_.host().ledger().total().active == 1; }));
    const auto answer = env_.sender().deliver(simulator::makeCallEvent("realtime.call.ended", "rtc_e"));
    EXPECT_EQ(answer.body, R"({"ok":true})");
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    EXPECT_EQ(recordedEndReason(env_.host().store(), "rtc_e"), "ended");
    // The host also closed the call's sideband session. The simulator answers the upgrade before it
    // registers the session, so the host may be connected (active) before session() knows it: wait.
    const auto session = env_.simulator().waitForSession("rtc_e", 5000ms);
    ASSERT_TRUE(session);
    EXPECT_TRUE(session->waitForClose(5000ms));
}

TEST_F(IncomingCallEndpointTest, RestErrorThenSuccessAcceptsOnceWithTheSameKey) {
    env_.simulator().failNext("accept", 500, 1);
    const auto answer = env_.incomingCall("rtc_f");
    EXPECT_EQ(answer.body, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})");
    const auto requests = rest("rtc_f");
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].status, 500);
    EXPECT_EQ(requests[1].status, 200);
    EXPECT_EQ(requests[0].idempotencyKey, requests[1].idempotencyKey);
    EXPECT_EQ(metric(metrics::name::kOpenAIRequests, {{"operation", "accept"}, {"status", "500"}}), 1);
    EXPECT_EQ(metric(metrics::name::kOpenAIRequests, {{"operation", "accept"}, {"status", "200"}}), 1);
}

TEST_F(IncomingCallEndpointTest, CallerGoneBeforeAcceptReleasesTheSlot) {
    env_.simulator().notFoundNext("accept", 1);
    const auto answer = env_.incomingCall("rtc_g");
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, R"({"ok":true,"accepted":false,"error":"call_id_not_found"})");
    EXPECT_EQ(rest("rtc_g").size(), 1u); // no retry after 404
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    EXPECT_EQ(env_.host().store().findCall("rtc_g")->outcome, "caller_gone");
}

// An accept OpenAI refuses with a 4xx a retry cannot change: answered 200 so OpenAI does not
// redeliver into the same failure, and a redelivery that comes anyway is deduped.
TEST_F(IncomingCallEndpointTest, AcceptRefused400IsAnswered200AndItsRedeliveryIsDeduped) {
    env_.simulator().failNext("accept", 400, 1, "rtc_400",
                              R"({"error":{"message":"Invalid 'tools[0].parameters'.","type":"invalid_request_error",)"
                              R"("param":"tools[0].parameters","code":"invalid_value"}})");
    simulator::IncomingCall call;
    call.callId = "rtc_400";
    const auto event = simulator::makeIncomingCallEvent(call);
    const auto answer = env_.sender().deliver(event);
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, R"({"ok":true,"accepted":false,"error":"accept_refused","status":400})");
    const auto again = env_.sender().deliver(event);
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(again.body, R"({"ok":true,"deduped":true})");

    const auto requests = rest("rtc_400");
    ASSERT_EQ(requests.size(), 1u); // one accept: no retry, no redelivery loop
    EXPECT_EQ(requests[0].action, "accept");
    EXPECT_EQ(requests[0].status, 400);
    const auto record = env_.host().store().findCall("rtc_400");
    ASSERT_TRUE(record);
    EXPECT_EQ(requests[0].idempotencyKey, "accept_" + record->webhookId);
    EXPECT_EQ(record->outcome, "accept_refused");
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    EXPECT_FALSE(env_.host().ledger().isKnown("rtc_400"));
    EXPECT_EQ(
        metric(metrics::name::kAcceptFailures, {{"tenant", "tenant_123"}, {"reason", "refused"}, {"status", "400"}}),
        1);
    EXPECT_EQ(metric(metrics::name::kOpenAIRequests, {{"operation", "accept"}, {"status", "400"}}), 1);
    EXPECT_EQ(metric(metrics::name::kWebhooks, {{"type", "realtime.call.incoming"}, {"outcome", "deduped"}}), 1);
}

TEST_F(IncomingCallEndpointTest, AcceptRefused401IsAnswered200AndItsRedeliveryIsDeduped) {
    env_.simulator().failNext("accept", 401, 1, "rtc_401",
                              R"({"error":{"message":"Incorrect API key provided: sk-test***e2e.","type":)"
                              R"("invalid_request_error","param":null,"code":"invalid_api_key"}})");
    simulator::IncomingCall call;
    call.callId = "rtc_401";
    const auto event = simulator::makeIncomingCallEvent(call);
    const auto answer = env_.sender().deliver(event);
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, R"({"ok":true,"accepted":false,"error":"accept_refused","status":401})");
    EXPECT_EQ(env_.sender().deliver(event).body, R"({"ok":true,"deduped":true})");
    EXPECT_EQ(rest("rtc_401").size(), 1u);
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    EXPECT_EQ(env_.host().store().findCall("rtc_401")->outcome, "accept_refused");
    EXPECT_EQ(
        metric(metrics::name::kAcceptFailures, {{"tenant", "tenant_123"}, {"reason", "refused"}, {"status", "401"}}),
        1);
}

class HangingOpenAITest : public IncomingCallEndpointTest {
protected:
    HangingOpenAITest()
        : IncomingCallEndpointTest([](Settings& s) {
              s.openaiTimeoutMs = 800;
              s.openaiRetries = 1;
          }) {}
};

TEST_F(HangingOpenAITest, RestHangingPastTheTimeoutReleasesAndAsksForRedelivery) {
    env_.simulator().delayNext("accept", 5000ms, 5);
    const auto answer = env_.incomingCall("rtc_h");
    EXPECT_EQ(answer.status, 502);
    EXPECT_EQ(answer.body, R"({"detail":"Call accept failed"})");
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    EXPECT_FALSE(env_.host().ledger().isKnown("rtc_h"));
    EXPECT_EQ(env_.host().store().findCall("rtc_h")->outcome, "accept_failed");
    EXPECT_EQ(metric(metrics::name::kAcceptFailures,
                     {{"tenant", "tenant_123"}, {"reason", "timeout"}, {"status", "timeout"}}),
              1);
    EXPECT_EQ(metric(metrics::name::kOpenAIRequests, {{"operation", "accept"}, {"status", "timeout"}}), 1);
}

// OpenAI accepted the call, but only after the host stopped waiting: the webhook was answered 502,
// and OpenAI's redelivery (same event, so the same Idempotency-Key) is accepted and served - one
// sideband session, not two, and not refused as a duplicate call id.
TEST_F(HangingOpenAITest, AcceptThatTimedOutButSucceededIsServedOnRedelivery) {
    env_.simulator().delayNext("accept", 1500ms, 1, "rtc_late");
    simulator::IncomingCall call;
    call.callId = "rtc_late";
    const auto event = simulator::makeIncomingCallEvent(call);
    const auto first = env_.sender().deliver(event);
    EXPECT_EQ(first.status, 502);
    EXPECT_EQ(first.body, R"({"detail":"Call accept failed"})");
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    const auto late = env_.simulator().waitForRestRequest("rtc_late", "accept", 5000ms);
    ASSERT_TRUE(late);
    EXPECT_EQ(late->status, 200) << "the simulator accepted the call after the host gave up";

    const auto redelivery = env_.sender().deliver(event);
    EXPECT_EQ(redelivery.status, 200);
    EXPECT_EQ(redelivery.body, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})");
    const auto requests = rest("rtc_late");
    ASSERT_EQ(requests.size(), 2u);
    const auto record = env_.host().store().findCall("rtc_late");
    ASSERT_TRUE(record);
    EXPECT_EQ(requests[0].idempotencyKey, "accept_" + record->webhookId);
    EXPECT_EQ(requests[1].idempotencyKey, requests[0].idempotencyKey);
    EXPECT_EQ(requests[1].action, "accept");
    EXPECT_EQ(record->outcome, "accepted");

    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().active == 1; }));
    ASSERT_TRUE(env_.simulator().waitForSession("rtc_late", 5000ms));
    std::size_t sessions = 0;
    for (const auto& session : env_.simulator().sessions())
        if (session->callId() == "rtc_late") ++sessions;
    EXPECT_EQ(sessions, 1u);
    EXPECT_EQ(metric(metrics::name::kCallsAccepted, {{"tenant", "tenant_123"}, {"channel", "sip"}}), 1);
    EXPECT_EQ(metric(metrics::name::kAcceptFailures,
                     {{"tenant", "tenant_123"}, {"reason", "timeout"}, {"status", "timeout"}}),
              1);
    EXPECT_EQ(metric(metrics::name::kOpenAIRequests, {{"operation", "accept"}, {"status", "timeout"}}), 1);
    EXPECT_EQ(metric(metrics::name::kOpenAIRequests, {{"operation", "accept"}, {"status", "200"}}), 1);
    // A third delivery of the same event is now a duplicate.
    EXPECT_EQ(env_.sender().deliver(event).body, R"({"ok":true,"deduped":true})");
}

class StoreDownTest : public IncomingCallEndpointTest {
protected:
    static std::unique_ptr<tenants::TenantStore> storeThatFailsInstructions() {
        auto store = std::make_unique<FakeTenantStore>();
        store->addTenant("tenant_123", "+18005550123", {true, std::nullopt, tenants::Instructions{"p", "g"}, "{}"});
        store->setUnavailableFor("instructions");
        return store;
    }
    StoreDownTest() : IncomingCallEndpointTest({}, storeThatFailsInstructions()) {}
};

TEST_F(StoreDownTest, AcceptedWithFallbackInstructions) {
    const auto answer = env_.incomingCall("rtc_fb");
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":true})");
    const auto requests = rest("rtc_fb");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_THAT(requests[0].body, HasSubstr(calls::kDefaultDowntimePrompt));
    const auto record = env_.host().store().findCall("rtc_fb");
    ASSERT_TRUE(record.has_value());
    EXPECT_TRUE(record->fallback);
    EXPECT_EQ(metric(metrics::name::kFallbacks, {{"tenant", "tenant_123"}}), 1);
    EXPECT_EQ(metric(metrics::name::kStoreErrors, {{"tenant", "tenant_123"}, {"operation", "instructions"}}), 1);
}

// The seam the pipeline benchmark uses: a launcher given to the Host replaces its sessions, both
// for accepted calls and for ended webhooks.
class OwnLauncherTest : public ::testing::Test {
protected:
    OwnLauncherTest() : env_({}, nullptr, takeLauncher()) {
        env_.addTenant("tenant_123", "+18005550123", R"({"model":"gpt-realtime","voice":"marin"})");
    }
    std::unique_ptr<calls::SessionLauncher> takeLauncher() {
        auto launcher = std::make_unique<FakeSessionLauncher>();
        launcher_ = launcher.get();
        return launcher;
    }

    FakeSessionLauncher* launcher_ = nullptr;
    HostWithSimulator env_;
};

TEST_F(OwnLauncherTest, AcceptedCallsAndEndedWebhooksReachTheGivenLauncher) {
    EXPECT_EQ(env_.incomingCall("rtc_own").body,
              R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})");
    {
        std::lock_guard lock(launcher_->mutex_);
        ASSERT_EQ(launcher_->launched.size(), 1u);
        EXPECT_EQ(launcher_->launched[0].callId, "rtc_own");
        EXPECT_EQ(launcher_->launched[0].tenantId, "tenant_123");
    }
    EXPECT_EQ(env_.host().ledger().total().pending, 1u) << "the launcher owns the slot until it releases it";
    EXPECT_EQ(env_.host().sessions().activeSessions(), 0u);

    EXPECT_EQ(env_.sender().deliver(simulator::makeCallEvent("realtime.call.ended", "rtc_own")).status, 200);
    std::lock_guard lock(launcher_->mutex_);
    ASSERT_EQ(launcher_->ended.size(), 1u);
    EXPECT_EQ(launcher_->ended[0].first, "rtc_own");
}

class StormTest : public IncomingCallEndpointTest {
protected:
    StormTest()
        : IncomingCallEndpointTest([](Settings& s) {
              s.maxConcurrentCalls = 100;
              s.httpThreads = 64;
          }) {}
};

TEST_F(StormTest, FiveHundredConcurrentCallsAgainstALimitOfOneHundred) {
    constexpr int kCalls = 500;
    std::vector<std::future<simulator::WebhookDelivery>> deliveries;
    for (int i = 0; i < kCalls; ++i)
        deliveries.push_back(
            std::async(std::launch::async, [this, i] { return env_.incomingCall("rtc_storm_" + std::to_string(i)); }));
    int accepted = 0, capacity = 0, other = 0;
    for (auto& delivery : deliveries) {
        const auto answer = delivery.get();
        if (answer.body.find(R"("accepted":true)") != std::string::npos)
            ++accepted;
        else if (answer.body == R"({"ok":true,"rejected":"capacity"})")
            ++capacity;
        else
            ++other;
    }
    EXPECT_EQ(accepted, 100);
    EXPECT_EQ(capacity, 400);
    EXPECT_EQ(other, 0);
    EXPECT_EQ(env_.host().ledger().total().inUse(), 100);
    EXPECT_EQ(metric(metrics::name::kCallsRejected, {{"tenant", "tenant_123"}, {"reason", "capacity"}}), 400);

    for (int i = 0; i < kCalls; ++i)
        env_.sender().deliver(simulator::makeCallEvent("realtime.call.ended", "rtc_storm_" + std::to_string(i)));
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    EXPECT_EQ(env_.host().ledger().total().pending, 0);
    EXPECT_EQ(env_.host().ledger().total().active, 0);
    EXPECT_TRUE(eventually([&] { return env_.host().sessions().activeSessions() == 0; }));
}

// One worker, no queue: an incoming call waiting on OpenAI holds the only worker. The REST
// timeout is well past every hold, so a slow machine cannot turn a held accept into a timeout.
class BusyWorkersTest : public IncomingCallEndpointTest {
protected:
    BusyWorkersTest()
        : IncomingCallEndpointTest([](Settings& s) {
              s.httpThreads = 1;
              s.httpQueue = 0;
              s.openaiTimeoutMs = 10000;
          }) {}

    // An incoming call whose accept the simulator answers only after `hold`, on its own thread.
    std::future<simulator::WebhookDelivery> callHoldingTheWorker(const std::string& callId,
                                                                 std::chrono::milliseconds hold) {
        env_.simulator().delayNext("accept", hold, 1, callId);
        auto call = std::async(std::launch::async, [this, callId] { return env_.incomingCall(callId); });
        // Its slot is reserved before the accept: from then on the worker waits on the simulator.
        EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().pending == 1; }));
        return call;
    }
};

TEST_F(BusyWorkersTest, RedeliveriesAndForgeriesAreAnsweredWhileEveryWorkerWaitsOnOpenAI) {
    simulator::IncomingCall first;
    first.callId = "rtc_done";
    const auto done = simulator::makeIncomingCallEvent(first);
    ASSERT_EQ(env_.sender().deliver(done).status, 200);
    auto held = callHoldingTheWorker("rtc_held", 3000ms);

    const auto redelivery = env_.sender().deliver(done);
    EXPECT_EQ(redelivery.status, 200);
    EXPECT_EQ(redelivery.body, R"({"ok":true,"deduped":true})");
    const auto forged = simulator::makeCallEvent("realtime.call.ended", "rtc_done");
    simulator::WebhookSenderOptions strangerOptions;
    strangerOptions.url = "https://localhost:" + std::to_string(env_.host().port()) + "/api/v1/openai/webhook";
    strangerOptions.caFile = TestCertificates::shared().caFile();
    strangerOptions.secret = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; // not the host's
    simulator::WebhookSender stranger(strangerOptions);
    const auto refused = stranger.deliver(forged);
    EXPECT_EQ(refused.status, 401);
    EXPECT_EQ(refused.body, R"({"detail":"Invalid signature"})");
    EXPECT_EQ(held.get().status, 200);
}

TEST_F(BusyWorkersTest, ANewEventRefusedForWantOfAWorkerIsProcessedWhenRedelivered) {
    auto held = callHoldingTheWorker("rtc_held", 2000ms);
    simulator::IncomingCall second;
    second.callId = "rtc_later";
    const auto event = simulator::makeIncomingCallEvent(second);
    const auto busy = env_.sender().deliver(event);
    EXPECT_EQ(busy.status, 503);
    EXPECT_EQ(busy.body, R"({"detail":"Server busy"})");
    EXPECT_EQ(metric(metrics::name::kHttpSaturated, {{"listener", "main"}}), 1);
    EXPECT_EQ(held.get().status, 200);

    const auto redelivered = env_.sender().deliver(event);
    EXPECT_EQ(redelivered.status, 200) << "not 409: the refused delivery did not stay in flight";
    EXPECT_EQ(redelivered.body, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})");
}
