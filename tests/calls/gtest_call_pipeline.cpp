// The incoming-call pipeline against fakes of every seam: each spec outcome, its REST call,
// idempotency key, slot accounting, call record and metrics.
#include "FakeCallControl.h"
#include "FakeSessionLauncher.h"
#include "FakeTenantStore.h"

#include "calls/CallPipeline.h"
#include "core/Json.h"
#include "metrics/SidebandMetrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace sideband;
using namespace sideband::calls;
using namespace sideband::testing;
using ::testing::HasSubstr;
using webhook::WebhookResponse;

namespace {

class FakeTools : public plugins::CallTools {
public:
    std::vector<plugins::ToolSpec> tools() const override {
        auto schema = json::object();
        schema->set("type", "object");
        return {{"find_slots", "Find free slots", schema}};
    }
    void invoke(const std::string&, const std::string&, std::function<void(const std::string&)> done) override {
        done("{}");
    }
};

class FakeToolBuilder : public plugins::ToolBuilder {
public:
    bool fail = false;
    std::shared_ptr<plugins::CallTools> build(const tenants::TenantConfig&, const plugins::CallInfo&,
                                              std::shared_ptr<plugins::CallActions>) override {
        if (fail) throw plugins::ToolBuildError("plugin broken.so: factory symbol missing");
        return std::make_shared<FakeTools>();
    }
};

class CallPipelineTest : public ::testing::Test {
protected:
    CallPipelineTest() {
        metrics::declareSidebandMetrics(metrics_);
        store_.addTenant("tenant_123", "+18005550123",
                         {true, std::nullopt, tenants::Instructions{"You are Acme's receptionist.", "Say hello"},
                          R"({"model":"gpt-realtime","voice":"marin","plugin":"appointments.so"})"});
        options_.maxConcurrentCalls = 3;
    }

    IncomingCallHandler& handler() {
        if (!handler_)
            handler_ = std::make_unique<IncomingCallHandler>(
                PipelineServices{store_, ledger_, rest_, &tools_, sessions_, metrics_, clock_}, options_);
        return *handler_;
    }

    WebhookResponse incoming(const std::string& callId, const std::string& to = "+18005550123",
                             const std::string& webhookId = "") {
        webhook::WebhookEvent event;
        event.id = webhookId.empty() ? "evt_" + callId : webhookId;
        event.type = "realtime.call.incoming";
        event.callId = callId;
        event.sipHeaders = {{"From", "\"Alice\" <sip:+14155550100@sip.example.com>;tag=9f"},
                            {"To", "<sip:" + to + "@sip.api.openai.com>"}};
        return handler().handle(event);
    }

    double rejectedMetric(const std::string& tenant, const std::string& reason) {
        return metrics_.value(metrics::name::kCallsRejected, {{"tenant", tenant}, {"reason", reason}});
    }

    ManualClock clock_{std::chrono::seconds{1750000000}};
    FakeTenantStore store_;
    InMemoryCallLedger ledger_{clock_};
    FakeCallControl rest_;
    FakeToolBuilder tools_;
    FakeSessionLauncher sessions_;
    metrics::MetricsRegistry metrics_;
    PipelineOptions options_;
    std::unique_ptr<IncomingCallHandler> handler_;
};

} // namespace

TEST_F(CallPipelineTest, AcceptsAConfiguredTenantsCall) {
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})"}));
    const auto accepts = rest_.requests("accept");
    ASSERT_EQ(accepts.size(), 1u);
    EXPECT_EQ(accepts[0].callId, "rtc_1");
    EXPECT_EQ(accepts[0].idempotencyKey, "accept_evt_rtc_1");
    EXPECT_EQ(accepts[0].body,
              R"({"type":"realtime","model":"gpt-realtime","instructions":"You are Acme's receptionist.",)"
              R"("tools":[{"type":"function","name":"find_slots","description":"Find free slots",)"
              R"("parameters":{"type":"object"}}],"tool_choice":"auto","audio":{"output":{"voice":"marin"}}})");
    EXPECT_EQ(ledger_.total().pending, 1);
    EXPECT_EQ(metrics_.value(metrics::name::kCallsAccepted, {{"tenant", "tenant_123"}}), 1);
}

TEST_F(CallPipelineTest, AcceptedCallIsHandedToTheSessionLauncher) {
    incoming("rtc_1");
    ASSERT_EQ(sessions_.launched.size(), 1u);
    const auto& call = sessions_.launched[0];
    EXPECT_EQ(call.callId, "rtc_1");
    EXPECT_EQ(call.caller, "+14155550100");
    EXPECT_EQ(call.dialed, "+18005550123");
    EXPECT_EQ(call.instructions.greeting, "Say hello");
    EXPECT_TRUE(call.tools);
}

TEST_F(CallPipelineTest, RecordsTheAcceptedCall) {
    incoming("rtc_1");
    const auto record = store_.findCall("rtc_1");
    ASSERT_TRUE(record);
    EXPECT_EQ(record->outcome, "accepted");
    EXPECT_EQ(record->tenantId, "tenant_123");
    EXPECT_EQ(record->webhookId, "evt_rtc_1");
    EXPECT_EQ(record->caller, "+14155550100");
    EXPECT_TRUE(record->acceptedAt);
    EXPECT_FALSE(record->fallback);
}

TEST_F(CallPipelineTest, UnknownNumberIsRejectedTenantResolveFailed) {
    EXPECT_EQ(incoming("rtc_1", "+19995550000"), (WebhookResponse{200, R"({"ok":true,"rejected":"tenant_resolve_failed"})"}));
    const auto rejects = rest_.requests("reject");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0].body, "603");
    EXPECT_EQ(rejects[0].idempotencyKey, "reject_tenant_resolve_failed_evt_rtc_1");
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(rejectedMetric("none", "tenant_resolve_failed"), 1);
}

TEST_F(CallPipelineTest, AtCapacityIsRejectedWith486AndTheSpecKey) {
    for (int i = 0; i < 3; ++i) incoming("rtc_" + std::to_string(i));
    EXPECT_EQ(incoming("rtc_9"), (WebhookResponse{200, R"({"ok":true,"rejected":"capacity"})"}));
    const auto rejects = rest_.requests("reject");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0].body, "486");
    EXPECT_EQ(rejects[0].idempotencyKey, "reject_evt_rtc_9");
    EXPECT_EQ(ledger_.total().pending, 3);
    EXPECT_EQ(rejectedMetric("tenant_123", "capacity"), 1);
}

TEST_F(CallPipelineTest, TenantsOwnLimitOverridesTheDefault) {
    store_.addTenant("small", "+18005550001", {true, 1, tenants::Instructions{"p", "g"}, "{}"});
    EXPECT_THAT(incoming("rtc_1", "+18005550001").body, HasSubstr(R"("accepted":true)"));
    EXPECT_EQ(incoming("rtc_2", "+18005550001").body, R"({"ok":true,"rejected":"capacity"})");
}

TEST_F(CallPipelineTest, PerTenantDefaultLimitApplies) {
    options_.maxConcurrentCallsPerTenant = 1;
    incoming("rtc_1");
    EXPECT_EQ(incoming("rtc_2").body, R"({"ok":true,"rejected":"capacity"})");
}

TEST_F(CallPipelineTest, DisabledTenantIsRejectedTenantNotConfigured) {
    store_.addTenant("off", "+18005550002", {false, std::nullopt, tenants::Instructions{"p", "g"}, "{}"});
    EXPECT_EQ(incoming("rtc_1", "+18005550002"), (WebhookResponse{200, R"({"ok":true,"rejected":"tenant_not_configured"})"}));
    EXPECT_EQ(rest_.requests("reject")[0].idempotencyKey, "reject_tenant_not_configured_evt_rtc_1");
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(rejectedMetric("off", "tenant_not_configured"), 1);
}

TEST_F(CallPipelineTest, MissingInstructionsAreRejected) {
    store_.addTenant("bare", "+18005550003", {true, std::nullopt, std::nullopt, "{}"});
    EXPECT_EQ(incoming("rtc_1", "+18005550003"), (WebhookResponse{200, R"({"ok":true,"rejected":"instructions_missing"})"}));
    EXPECT_EQ(rest_.requests("reject")[0].idempotencyKey, "reject_instructions_missing_evt_rtc_1");
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(store_.findCall("rtc_1")->rejectReason, "instructions_missing");
}

TEST_F(CallPipelineTest, UnparseableConfigIsRejected) {
    store_.addTenant("broken", "+18005550004", {true, std::nullopt, tenants::Instructions{"p", "g"}, "{nope"});
    EXPECT_EQ(incoming("rtc_1", "+18005550004"), (WebhookResponse{200, R"({"ok":true,"rejected":"tenant_config_parse_error"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
}

TEST_F(CallPipelineTest, StoreDownFallsBackToDowntimeInstructionsAndAccepts) {
    incoming("rtc_0"); // teaches the last-known route
    store_.setUnavailable(true);
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":true})"}));
    EXPECT_THAT(rest_.requests("accept").back().body, HasSubstr(kDefaultDowntimePrompt));
    EXPECT_EQ(metrics_.value(metrics::name::kFallbacks, {{"tenant", "tenant_123"}}), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kStoreErrors, {{"tenant", "tenant_123"}, {"operation", "instructions"}}), 1);
}

TEST_F(CallPipelineTest, InstructionsStoreErrorUsesConfiguredDowntimeTexts) {
    options_.downtimePrompt = "We are closed for maintenance.";
    options_.downtimeGreeting = "Sorry!";
    store_.setUnavailableFor("instructions");
    EXPECT_THAT(incoming("rtc_1").body, HasSubstr(R"("fallback":true)"));
    EXPECT_THAT(rest_.requests("accept")[0].body, HasSubstr("We are closed for maintenance."));
    EXPECT_EQ(sessions_.launched[0].instructions.greeting, "Sorry!");
}

TEST_F(CallPipelineTest, StoreDownWithNoKnownRouteIsRejected) {
    store_.setUnavailable(true);
    EXPECT_EQ(incoming("rtc_1").body, R"({"ok":true,"rejected":"tenant_resolve_failed"})");
}

TEST_F(CallPipelineTest, ToolBuildFailureStillAcceptsWithoutTools) {
    tools_.fail = true;
    EXPECT_THAT(incoming("rtc_1").body, HasSubstr(R"("accepted":true)"));
    EXPECT_THAT(rest_.requests("accept")[0].body, ::testing::Not(HasSubstr("tools")));
    EXPECT_FALSE(sessions_.launched[0].tools);
}

TEST_F(CallPipelineTest, DuplicateCallIdIsAnsweredWithoutProcessing) {
    incoming("rtc_1");
    EXPECT_EQ(incoming("rtc_1", "+18005550123", "evt_other"),
              (WebhookResponse{200, R"({"ok":true,"duplicate_call_id":true,"reason":"already_accepted"})"}));
    EXPECT_EQ(rest_.requests("accept").size(), 1u);
    EXPECT_EQ(ledger_.total().pending, 1);
}

TEST_F(CallPipelineTest, CallerGoneOnAcceptReleasesAndAnswers200) {
    rest_.answerNext("accept", 404);
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{200, R"({"ok":true,"accepted":false,"error":"call_id_not_found"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_TRUE(sessions_.launched.empty());
    EXPECT_EQ(store_.findCall("rtc_1")->outcome, "caller_gone");
}

TEST_F(CallPipelineTest, AcceptFailureReleasesTheSlotAndAsksForRedelivery) {
    rest_.answerNext("accept", 500);
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_FALSE(ledger_.isKnown("rtc_1"));
    EXPECT_EQ(metrics_.value(metrics::name::kAcceptFailures, {{"tenant", "tenant_123"}, {"reason", "error"}}), 1);
    // The redelivery is processed and succeeds with the same key.
    EXPECT_THAT(incoming("rtc_1").body, HasSubstr(R"("accepted":true)"));
    EXPECT_EQ(rest_.requests("accept")[1].idempotencyKey, "accept_evt_rtc_1");
}

TEST_F(CallPipelineTest, RejectIsDecidedEvenWhenTheRejectCallFails) {
    rest_.answerNext("reject", 500);
    EXPECT_EQ(incoming("rtc_1", "+19995550000").body, R"({"ok":true,"rejected":"tenant_resolve_failed"})");
}

TEST_F(CallPipelineTest, CallRecordFailureDoesNotFailTheCall) {
    store_.setUnavailableFor("save_call");
    EXPECT_THAT(incoming("rtc_1").body, HasSubstr(R"("accepted":true)"));
}

TEST_F(CallPipelineTest, EndedWebhookReleasesTheSlotRecordsAndClosesTheSession) {
    incoming("rtc_1");
    CallEndedHandler ended(store_, ledger_, sessions_, metrics_, clock_);
    webhook::WebhookEvent event;
    event.id = "evt_end";
    event.type = "realtime.call.hangup";
    event.callId = "rtc_1";
    EXPECT_EQ(ended.handle(event), WebhookResponse::ok());
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(store_.findCall("rtc_1")->endReason, "hangup");
    ASSERT_EQ(sessions_.ended.size(), 1u);
    EXPECT_EQ(sessions_.ended[0].first, "rtc_1");
    EXPECT_EQ(metrics_.value(metrics::name::kCallsEnded, {{"tenant", "tenant_123"}, {"reason", "hangup"}}), 1);
}
