// The incoming-call pipeline against fakes of every seam: each spec outcome, its REST call,
// idempotency key, slot accounting, call record and metrics.
#include "FakeCallControl.h"
#include "FakeSessionLauncher.h"
#include "FakeTenantStore.h"
#include "FakeToolBuilder.h"

#include "calls/CallPipeline.h"
#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "webhook/WebhookService.h"

#include <spdlog/sinks/ostream_sink.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <sstream>

using namespace sideband;
using namespace sideband::calls;
using namespace sideband::testing;
using ::testing::HasSubstr;
using webhook::WebhookResponse;

namespace {

// FakeCallControl scripts statuses only. This adds, to the failures it scripts, what the real
// client reports beside the status: the API's error message and whether "no answer" was a timeout.
class DetailedCallControl final : public openai::CallControl {
public:
    struct Details {
        bool timedOut = false;
        std::string message, type, code;
    };
    explicit DetailedCallControl(FakeCallControl& inner) : inner_(inner) {}
    void detailNextFailure(const std::string& action, Details details) { script_.emplace_back(action, details); }

    openai::CreatedCall create(const std::string& sdp, const std::string& session, const std::string& key) override {
        auto created = inner_.create(sdp, session, key);
        created.result = detailed("create", created.result);
        return created;
    }
    openai::RestResult accept(const std::string& callId, const std::string& session, const std::string& key) override {
        return detailed("accept", inner_.accept(callId, session, key));
    }
    openai::RestResult reject(const std::string& callId, int sipStatus, const std::string& key) override {
        return detailed("reject", inner_.reject(callId, sipStatus, key));
    }
    openai::RestResult refer(const std::string& callId, const std::string& target, const std::string& key) override {
        return detailed("refer", inner_.refer(callId, target, key));
    }
    openai::RestResult hangup(const std::string& callId, const std::string& key) override {
        return detailed("hangup", inner_.hangup(callId, key));
    }

private:
    openai::RestResult detailed(const std::string& action, openai::RestResult result) {
        if (result.ok()) return result;
        for (auto it = script_.begin(); it != script_.end(); ++it) {
            if (it->first != action) continue;
            const auto& details = it->second;
            result.timedOut = details.timedOut;
            result.apiMessage = details.message;
            result.apiType = details.type;
            result.apiCode = details.code;
            if (details.timedOut)
                result.error = "Timeout";
            else if (!details.message.empty())
                result.error += ": " + details.message;
            script_.erase(it);
            break;
        }
        return result;
    }

    FakeCallControl& inner_;
    std::deque<std::pair<std::string, Details>> script_;
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
                PipelineServices{store_, ledger_, detailed_, &tools_, sessions_, metrics_, clock_}, options_);
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
    double acceptFailures(const std::string& reason, const std::string& status) {
        return metrics_.value(metrics::name::kAcceptFailures,
                              {{"tenant", "tenant_123"}, {"reason", reason}, {"status", status}});
    }

    // The next accept answers `status` with the API's error body.
    void acceptAnswers(int status, const std::string& message = "", const std::string& type = "",
                       const std::string& code = "") {
        rest_.answerNext("accept", status);
        detailed_.detailNextFailure("accept", {false, message, type, code});
    }
    // The next accept gets no answer within the client's time.
    void acceptTimesOut() {
        rest_.answerNext("accept", 0);
        detailed_.detailNextFailure("accept", {true, "", "", ""});
    }

    ManualClock clock_{std::chrono::seconds{1750000000}};
    FakeTenantStore store_;
    InMemoryCallLedger ledger_{clock_};
    FakeCallControl rest_;
    DetailedCallControl detailed_{rest_};
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
    EXPECT_EQ(metrics_.value(metrics::name::kCallsAccepted, {{"tenant", "tenant_123"}, {"channel", "sip"}}), 1);
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
    EXPECT_EQ(incoming("rtc_1", "+19995550000"),
              (WebhookResponse{200, R"({"ok":true,"rejected":"tenant_resolve_failed"})"}));
    const auto rejects = rest_.requests("reject");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0].body, "603");
    EXPECT_EQ(rejects[0].idempotencyKey, "reject_tenant_resolve_failed_evt_rtc_1");
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(rejectedMetric("none", "tenant_resolve_failed"), 1);
}

TEST_F(CallPipelineTest, AtCapacityIsRejectedWith486AndTheSpecKey) {
    for (int i = 0; i < 3; ++i)
        incoming("rtc_" + std::to_string(i));
    EXPECT_EQ(incoming("rtc_9"), (WebhookResponse{200, R"({"ok":true,"rejected":"capacity"})"}));
    const auto rejects = rest_.requests("reject");
    ASSERT_EQ(rejects.size(), 1u);
    EXPECT_EQ(rejects[0].body, "486");
    EXPECT_EQ(rejects[0].idempotencyKey, "reject_evt_rtc_9");
    EXPECT_EQ(ledger_.total().pending, 3);
    EXPECT_EQ(rejectedMetric("tenant_123", "capacity"), 1);
}

TEST_F(CallPipelineTest, ADrainingHostRejectsANewCallAsCapacity) {
    handler().setDraining(true);
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{200, R"({"ok":true,"rejected":"capacity"})"}));
    EXPECT_EQ(rest_.requests("reject").size(), 1u);
    EXPECT_EQ(ledger_.total().inUse(), 0);
}

TEST_F(CallPipelineTest, ADrainingReplicaOfAFleetAnswers503ForOpenAIToRedeliverElsewhere) {
    options_.redeliverWhileDraining = true;
    handler().setDraining(true);
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{503, R"({"detail":"Server draining"})"}));
    EXPECT_TRUE(rest_.requests("reject").empty());
    EXPECT_TRUE(rest_.requests("accept").empty());
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_FALSE(ledger_.isKnown("rtc_1")); // the redelivery, wherever it lands, is a new call
    EXPECT_FALSE(store_.findCall("rtc_1"));
    EXPECT_EQ(metrics_.value(metrics::name::kCallsRedelivered, {{"reason", "draining"}}), 1);
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
    EXPECT_EQ(incoming("rtc_1", "+18005550002"),
              (WebhookResponse{200, R"({"ok":true,"rejected":"tenant_not_configured"})"}));
    EXPECT_EQ(rest_.requests("reject")[0].idempotencyKey, "reject_tenant_not_configured_evt_rtc_1");
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(rejectedMetric("off", "tenant_not_configured"), 1);
}

TEST_F(CallPipelineTest, MissingInstructionsAreRejected) {
    store_.addTenant("bare", "+18005550003", {true, std::nullopt, std::nullopt, "{}"});
    EXPECT_EQ(incoming("rtc_1", "+18005550003"),
              (WebhookResponse{200, R"({"ok":true,"rejected":"instructions_missing"})"}));
    EXPECT_EQ(rest_.requests("reject")[0].idempotencyKey, "reject_instructions_missing_evt_rtc_1");
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(store_.findCall("rtc_1")->rejectReason, "instructions_missing");
}

TEST_F(CallPipelineTest, UnparseableConfigIsRejected) {
    store_.addTenant("broken", "+18005550004", {true, std::nullopt, tenants::Instructions{"p", "g"}, "{nope"});
    EXPECT_EQ(incoming("rtc_1", "+18005550004"),
              (WebhookResponse{200, R"({"ok":true,"rejected":"tenant_config_parse_error"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
}

TEST_F(CallPipelineTest, StoreDownFallsBackToDowntimeInstructionsAndAccepts) {
    incoming("rtc_0"); // teaches the last-known route
    store_.setUnavailable(true);
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":true})"}));
    EXPECT_THAT(rest_.requests("accept").back().body, HasSubstr(kDefaultDowntimePrompt));
    EXPECT_EQ(metrics_.value(metrics::name::kFallbacks, {{"tenant", "tenant_123"}}), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kStoreErrors, {{"tenant", "tenant_123"}, {"operation", "instructions"}}),
              1);
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
    acceptAnswers(404, "call_id_not_found", "invalid_request_error", "call_id_not_found");
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{200, R"({"ok":true,"accepted":false,"error":"call_id_not_found"})"}));
    EXPECT_EQ(rest_.requests("accept").size(), 1u);
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_FALSE(ledger_.isKnown("rtc_1"));
    EXPECT_TRUE(sessions_.launched.empty());
    EXPECT_EQ(store_.findCall("rtc_1")->outcome, "caller_gone");
    EXPECT_EQ(acceptFailures("call_not_found", "404"), 1);
}

TEST_F(CallPipelineTest, AcceptFailureReleasesTheSlotAndAsksForRedelivery) {
    acceptAnswers(500, "The server had an error while processing your request.", "server_error");
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_FALSE(ledger_.isKnown("rtc_1"));
    EXPECT_EQ(acceptFailures("error", "500"), 1);
    EXPECT_EQ(store_.findCall("rtc_1")->outcome, "accept_failed");
    // The redelivery is processed and succeeds with the same key.
    EXPECT_THAT(incoming("rtc_1").body, HasSubstr(R"("accepted":true)"));
    EXPECT_EQ(rest_.requests("accept")[1].idempotencyKey, "accept_evt_rtc_1");
}

// --- accept refused by OpenAI with a 4xx a retry cannot change: 200, so no redelivery loop ---

TEST_F(CallPipelineTest, AcceptRefused400IsAnswered200WithTheStatusAndReleasesTheSlot) {
    acceptAnswers(400, "Invalid 'tools[0].parameters': schema must be a JSON Schema of 'type: \"object\"'.",
                  "invalid_request_error", "invalid_function_parameters");
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":false,"error":"accept_refused","status":400})"}));
    const auto accepts = rest_.requests("accept");
    ASSERT_EQ(accepts.size(), 1u);
    EXPECT_EQ(accepts[0].idempotencyKey, "accept_evt_rtc_1");
    EXPECT_TRUE(rest_.requests("reject").empty());
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_FALSE(ledger_.isKnown("rtc_1"));
    EXPECT_TRUE(sessions_.launched.empty());
    EXPECT_EQ(acceptFailures("refused", "400"), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kCallsAccepted, {{"tenant", "tenant_123"}, {"channel", "sip"}}), 0);
}

TEST_F(CallPipelineTest, AcceptRefused401BadKeyIsAnswered200AndReleasesTheSlot) {
    acceptAnswers(401, "Incorrect API key provided: sk-<redacted>.", "invalid_request_error", "invalid_api_key");
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":false,"error":"accept_refused","status":401})"}));
    EXPECT_EQ(rest_.requests("accept").size(), 1u);
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_TRUE(sessions_.launched.empty());
    EXPECT_EQ(acceptFailures("refused", "401"), 1);
}

TEST_F(CallPipelineTest, AcceptRefused403IsAnswered200AndReleasesTheSlot) {
    acceptAnswers(403, "Project does not have access to model gpt-realtime", "invalid_request_error",
                  "model_not_found");
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":false,"error":"accept_refused","status":403})"}));
    EXPECT_EQ(rest_.requests("accept").size(), 1u);
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(acceptFailures("refused", "403"), 1);
}

TEST_F(CallPipelineTest, AcceptRefused422IsAnswered200) {
    acceptAnswers(422);
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":false,"error":"accept_refused","status":422})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(acceptFailures("refused", "422"), 1);
}

TEST_F(CallPipelineTest, RefusedAcceptIsRecordedAsAcceptRefused) {
    acceptAnswers(400, "Invalid value for 'audio.output.voice'.", "invalid_request_error", "invalid_value");
    incoming("rtc_1");
    const auto record = store_.findCall("rtc_1");
    ASSERT_TRUE(record);
    EXPECT_EQ(record->outcome, "accept_refused");
    EXPECT_EQ(record->tenantId, "tenant_123");
    EXPECT_FALSE(record->acceptedAt);
}

TEST_F(CallPipelineTest, RefusedAcceptIsOneErrorLineWithTheApiMessage) {
    std::ostringstream out;
    logging::configure(logging::Format::Human, spdlog::level::info,
                       std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    acceptAnswers(400, "Invalid value for 'audio.output.voice'.", "invalid_request_error", "invalid_value");
    incoming("rtc_1");
    spdlog::drop("sideband");
    logging::configure(logging::Format::Human, spdlog::level::info);

    std::vector<std::string> errors;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);)
        if (line.find(" error ") != std::string::npos) errors.push_back(line);
    ASSERT_EQ(errors.size(), 1u) << out.str();
    EXPECT_THAT(errors[0], HasSubstr("call=rtc_1 tenant=tenant_123 accept refused by OpenAI, not retried (HTTP 400 "
                                     "invalid_request_error/invalid_value): Invalid value for 'audio.output.voice'."));
}

// --- transient failures: 502, slot released, not remembered, so the redelivery retries ---

TEST_F(CallPipelineTest, AcceptRateLimited429AsksForRedelivery) {
    acceptAnswers(429, "Rate limit reached", "requests", "rate_limit_exceeded");
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_FALSE(ledger_.isKnown("rtc_1"));
    EXPECT_EQ(acceptFailures("error", "429"), 1);
    EXPECT_EQ(store_.findCall("rtc_1")->outcome, "accept_failed");
}

TEST_F(CallPipelineTest, AcceptConflict409AsksForRedelivery) {
    acceptAnswers(409);
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(acceptFailures("error", "409"), 1);
}

TEST_F(CallPipelineTest, AcceptRequestTimeout408AsksForRedelivery) {
    acceptAnswers(408);
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(acceptFailures("error", "408"), 1);
}

TEST_F(CallPipelineTest, AcceptTimeoutAsksForRedelivery) {
    acceptTimesOut();
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_FALSE(ledger_.isKnown("rtc_1"));
    EXPECT_TRUE(sessions_.launched.empty());
    EXPECT_EQ(acceptFailures("timeout", "timeout"), 1);
    EXPECT_EQ(store_.findCall("rtc_1")->outcome, "accept_failed");
}

TEST_F(CallPipelineTest, AcceptWithNoAnswerAsksForRedelivery) {
    acceptAnswers(0); // connection refused or reset: no HTTP answer, not a timeout
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(acceptFailures("error", "error"), 1);
}

TEST_F(CallPipelineTest, AcceptThatTimedOutButSucceededIsServedOnRedelivery) {
    // The first accept reached OpenAI and was accepted there, but its answer came too late.
    acceptTimesOut();
    EXPECT_EQ(incoming("rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    // OpenAI redelivers the same event: not a duplicate call, accepted again with the same key.
    EXPECT_EQ(incoming("rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})"}));
    const auto accepts = rest_.requests("accept");
    ASSERT_EQ(accepts.size(), 2u);
    EXPECT_EQ(accepts[0].idempotencyKey, "accept_evt_rtc_1");
    EXPECT_EQ(accepts[1].idempotencyKey, "accept_evt_rtc_1");
    ASSERT_EQ(sessions_.launched.size(), 1u);
    EXPECT_EQ(sessions_.launched[0].callId, "rtc_1");
    EXPECT_EQ(ledger_.total().pending, 1);
    EXPECT_EQ(store_.findCall("rtc_1")->outcome, "accepted");
    EXPECT_EQ(acceptFailures("timeout", "timeout"), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kCallsAccepted, {{"tenant", "tenant_123"}, {"channel", "sip"}}), 1);
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

namespace {

// The pipeline behind the front door (signature, dedup, router), as OpenAI's deliveries reach it:
// what a redelivery of the same webhook gets after each kind of accept failure.
class IncomingCallDeliveryTest : public CallPipelineTest {
protected:
    IncomingCallDeliveryTest()
        : verifier_({kSecret}, clock_), dedup_(clock_), service_(verifier_, dedup_, router_, metrics_) {}

    WebhookResponse deliver(const std::string& webhookId, const std::string& callId) {
        if (!routed_) {
            router_.add("realtime.call.incoming", std::shared_ptr<IncomingCallHandler>(&handler(), [](auto*) {}));
            routed_ = true;
        }
        const std::string body = R"({"object":"event","id":")" + webhookId +
                                 R"(","type":"realtime.call.incoming","data":{"call_id":")" + callId +
                                 R"(","sip_headers":[{"name":"From","value":"<sip:+14155550100@sip.example.com>"},)"
                                 R"({"name":"To","value":"<sip:+18005550123@sip.api.openai.com>"}]}})";
        const auto ts =
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count());
        const std::string headerId = "wh_" + webhookId; // the header id: stable across redeliveries too
        return service_.handle({headerId, ts, "v1," + webhook::computeSignature(kSecret, headerId, ts, body)}, body);
    }

    static constexpr const char* kSecret = "test-secret";
    webhook::WebhookVerifier verifier_;
    webhook::InMemoryWebhookDeduplicator dedup_;
    webhook::WebhookRouter router_;
    webhook::WebhookService service_;
    bool routed_ = false;
};

} // namespace

TEST_F(IncomingCallDeliveryTest, RedeliveryOfARefusedAcceptIsDedupedNotRetried) {
    acceptAnswers(400, "Invalid 'tools'.", "invalid_request_error", "invalid_value");
    EXPECT_EQ(deliver("evt_1", "rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":false,"error":"accept_refused","status":400})"}));
    EXPECT_EQ(deliver("evt_1", "rtc_1"), (WebhookResponse{200, R"({"ok":true,"deduped":true})"}));
    EXPECT_EQ(rest_.requests("accept").size(), 1u);
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_EQ(metrics_.value(metrics::name::kWebhooks, {{"type", "realtime.call.incoming"}, {"outcome", "deduped"}}),
              1);
}

TEST_F(IncomingCallDeliveryTest, RedeliveryOfABadKeyRefusalIsDedupedNotRetried) {
    acceptAnswers(401, "Incorrect API key provided: sk-<redacted>.", "invalid_request_error", "invalid_api_key");
    EXPECT_EQ(deliver("evt_1", "rtc_1").status, 200);
    EXPECT_EQ(deliver("evt_1", "rtc_1"), (WebhookResponse{200, R"({"ok":true,"deduped":true})"}));
    EXPECT_EQ(rest_.requests("accept").size(), 1u);
}

TEST_F(IncomingCallDeliveryTest, RedeliveryAfterAnAcceptTimeoutIsAcceptedOnceWithTheSameKey) {
    acceptTimesOut();
    EXPECT_EQ(deliver("evt_1", "rtc_1"), (WebhookResponse{502, R"({"detail":"Call accept failed"})"}));
    EXPECT_EQ(deliver("evt_1", "rtc_1"),
              (WebhookResponse{200, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})"}));
    EXPECT_EQ(deliver("evt_1", "rtc_1"), (WebhookResponse{200, R"({"ok":true,"deduped":true})"}));
    const auto accepts = rest_.requests("accept");
    ASSERT_EQ(accepts.size(), 2u);
    EXPECT_EQ(accepts[0].idempotencyKey, "accept_evt_1");
    EXPECT_EQ(accepts[1].idempotencyKey, "accept_evt_1");
    EXPECT_EQ(sessions_.launched.size(), 1u);
    EXPECT_EQ(ledger_.total().pending, 1);
}

TEST_F(IncomingCallDeliveryTest, RedeliveryAfterA500IsProcessed) {
    acceptAnswers(500);
    EXPECT_EQ(deliver("evt_1", "rtc_1").status, 502);
    EXPECT_THAT(deliver("evt_1", "rtc_1").body, HasSubstr(R"("accepted":true)"));
    EXPECT_EQ(rest_.requests("accept").size(), 2u);
    EXPECT_EQ(sessions_.launched.size(), 1u);
}
