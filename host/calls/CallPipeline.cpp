#include "calls/CallPipeline.h"

#include "calls/CallEnd.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "openai/RealtimeEvents.h"
#include "openai/RestCallActions.h"
#include "sip/SipHeaderParser.h"

#include <spdlog/spdlog.h>

namespace sideband::calls {

namespace {

constexpr const char* kNoTenant = "none";

using webhook::WebhookResponse;

WebhookResponse rejected(const std::string& reason) {
    auto body = json::object();
    body->set("ok", true);
    body->set("rejected", reason);
    return {200, json::stringify(body)};
}

WebhookResponse duplicateCall() {
    return {200, R"({"ok":true,"duplicate_call_id":true,"reason":"already_accepted"})"};
}

} // namespace

struct IncomingCallHandler::Call {
    const webhook::WebhookEvent& event;
    tenants::CallRecord record;
    bool reserved = false;
    AcceptedCall accepted;
};

IncomingCallHandler::IncomingCallHandler(PipelineServices services, PipelineOptions options)
    : services_(services), options_(std::move(options)) {
    if (options_.downtimePrompt.empty()) options_.downtimePrompt = kDefaultDowntimePrompt;
    if (options_.downtimeGreeting.empty()) options_.downtimeGreeting = kDefaultDowntimeGreeting;
}

WebhookResponse IncomingCallHandler::handle(const webhook::WebhookEvent& event) {
    if (draining_ && options_.redeliverWhileDraining) {
        logging::forCall(event.callId).info("draining: answered 503 for OpenAI to redeliver (webhook {})", event.id);
        services_.metrics.increment(metrics::name::kCallsRedelivered, {{"reason", "draining"}});
        return WebhookResponse::draining();
    }
    Call call{event, {}, false, {}};
    auto& record = call.record;
    record.callId = event.callId;
    record.webhookId = event.id;
    record.receivedAt = services_.clock.now();
    const auto parties = sip::parseCallParties(event.sipHeaders);
    record.caller = parties.caller;
    record.dialed = parties.dialed;

    if (services_.ledger.isKnown(event.callId)) {
        logging::forCall(event.callId).info("duplicate call id (webhook {}), already pending or accepted", event.id);
        return duplicateCall();
    }

    const auto tenantId = resolveTenant(call);
    if (!tenantId)
        return reject(call, "tenant_resolve_failed", options_.rejectStatusOther,
                      "reject_tenant_resolve_failed_" + event.id);
    record.tenantId = *tenantId;

    // The config carries the tenant's own call limit, needed for the capacity check; its errors
    // are answered after capacity and instructions, in the spec's order.
    std::optional<tenants::TenantConfig> config;
    std::optional<tenants::StoreError> configError;
    try {
        config = services_.store.config(*tenantId);
    } catch (const tenants::StoreError& e) {
        configError = e;
    }

    if (draining_) return reject(call, "capacity", options_.rejectStatusCapacity, "reject_" + event.id);
    switch (services_.ledger.reserve(event.callId, *tenantId, limitsFor(options_, config))) {
    case CallLedger::Reservation::AtCapacity:
        return reject(call, "capacity", options_.rejectStatusCapacity, "reject_" + event.id);
    case CallLedger::Reservation::DuplicateCall:
        logging::forCall(event.callId, *tenantId).info("duplicate call id (webhook {})", event.id);
        return duplicateCall();
    case CallLedger::Reservation::Reserved:
        call.reserved = true;
        break;
    }

    auto& accepted = call.accepted;
    accepted.callId = event.callId;
    accepted.tenantId = *tenantId;
    if (const auto refusal = prepareCall(services_, options_, accepted, std::move(config), configError))
        return reject(call, *refusal, options_.rejectStatusOther, "reject_" + *refusal + "_" + event.id);
    return accept(call);
}

std::optional<std::string> IncomingCallHandler::resolveTenant(Call& call) {
    const auto& dialed = call.record.dialed;
    if (dialed.empty()) {
        logging::forCall(call.record.callId).warn("no dialed number in the SIP headers");
        return std::nullopt;
    }
    try {
        auto tenantId = services_.store.tenantForNumber(dialed);
        std::lock_guard lock(routesMutex_);
        if (tenantId)
            lastKnownRoutes_[dialed] = *tenantId;
        else
            lastKnownRoutes_.erase(dialed);
        if (!tenantId) logging::forCall(call.record.callId).warn("dialed number {} belongs to no tenant", dialed);
        return tenantId;
    } catch (const tenants::StoreError& e) {
        countStoreError(services_, call.record.callId, kNoTenant, "resolve", e);
        std::lock_guard lock(routesMutex_);
        auto known = lastKnownRoutes_.find(dialed);
        if (known == lastKnownRoutes_.end()) return std::nullopt;
        logging::forCall(call.record.callId)
            .warn("store unavailable, routing {} to last known tenant {}", dialed, known->second);
        return known->second;
    }
}

WebhookResponse IncomingCallHandler::reject(Call& call, const std::string& reason, int sipStatus,
                                            const std::string& idempotencyKey) {
    auto& record = call.record;
    if (call.reserved) services_.ledger.release(record.callId);
    const auto tenantLabel = record.tenantId.empty() ? std::string(kNoTenant) : record.tenantId;
    logging::forCall(record.callId, tenantLabel).info("rejected: {} (SIP {})", reason, sipStatus);
    services_.metrics.increment(metrics::name::kCallsRejected, {{"tenant", tenantLabel}, {"reason", reason}});
    // The decision stands even if OpenAI cannot be told now: the call then times out on its side.
    services_.callControl.reject(record.callId, sipStatus, idempotencyKey);
    record.outcome = "rejected";
    record.rejectReason = reason;
    saveCallRecord(services_, record);
    return rejected(reason);
}

WebhookResponse IncomingCallHandler::accept(Call& call) {
    auto& record = call.record;
    auto& accepted = call.accepted;
    accepted.callId = record.callId;
    accepted.webhookId = record.webhookId;
    accepted.tenantId = record.tenantId;
    accepted.caller = record.caller;
    accepted.dialed = record.dialed;

    // Shared with the session: after a tool transferred or hung up, the model is not asked to speak.
    accepted.actions = std::make_shared<openai::RestCallActions>(services_.callControl, record.callId);
    buildTools(services_, accepted);

    const auto started = std::chrono::steady_clock::now();
    const auto result = services_.callControl.accept(
        record.callId, openai::realtime::acceptBody(accepted, options_.defaultModel), "accept_" + record.webhookId);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    services_.metrics.observe(metrics::name::kAcceptSeconds, elapsed.count());
    record.fallback = accepted.fallback;

    if (!result.ok()) return acceptFailed(call, result);

    services_.ledger.markAccepted(record.callId);
    record.outcome = "accepted";
    record.acceptedAt = services_.clock.now();
    saveCallRecord(services_, record);
    services_.metrics.increment(metrics::name::kCallsAccepted, {{"tenant", record.tenantId}, {"channel", "sip"}});
    if (accepted.fallback) services_.metrics.increment(metrics::name::kFallbacks, {{"tenant", record.tenantId}});
    logging::forCall(record.callId, record.tenantId)
        .info("accepted{} ({} tools), caller={} dialed={}", accepted.fallback ? " with fallback instructions" : "",
              accepted.tools ? accepted.tools->tools().size() : 0, record.caller, record.dialed);

    auto body = json::object();
    body->set("ok", true);
    body->set("accepted", true);
    body->set("tenant_id", record.tenantId);
    body->set("fallback", accepted.fallback);
    services_.sessions.launch(std::move(accepted));
    return {200, json::stringify(body)};
}

// Every failed accept frees the slot (nothing holds the call id: a redelivery is not a duplicate).
// Then, by what OpenAI answered:
// - 404: the caller hung up. 200, so nothing is redelivered.
// - another 4xx but 408/409/429 (400 a refused session body, 401 a bad key, 403, 422...): asking
//   again cannot change the answer. 200 stating the refusal, so OpenAI does not redeliver into the
//   same failure; the webhook id is then remembered as processed.
// - 5xx, 408, 409, 429, a timeout or no answer: 502 and the id is not remembered, so OpenAI's
//   redelivery accepts again with the same Idempotency-Key (accept_{webhook id}). An accept that
//   succeeded at OpenAI but timed out here is thus served by the redelivery, once.
WebhookResponse IncomingCallHandler::acceptFailed(Call& call, const openai::RestResult& result) {
    auto& record = call.record;
    services_.ledger.release(record.callId);
    const auto log = logging::forCall(record.callId, record.tenantId);
    const auto status = restStatusLabel(result);

    if (result.notFound()) {
        record.outcome = "caller_gone";
        services_.metrics.increment(metrics::name::kAcceptFailures,
                                    {{"tenant", record.tenantId}, {"reason", "call_not_found"}, {"status", status}});
        saveCallRecord(services_, record);
        log.info("caller hung up before accept");
        return {200, R"({"ok":true,"accepted":false,"error":"call_id_not_found"})"};
    }

    if (result.permanentFailure()) {
        record.outcome = "accept_refused";
        services_.metrics.increment(metrics::name::kAcceptFailures,
                                    {{"tenant", record.tenantId}, {"reason", "refused"}, {"status", status}});
        saveCallRecord(services_, record);
        std::string why = result.apiType;
        if (!result.apiCode.empty()) why += (why.empty() ? "" : "/") + result.apiCode;
        log.error("accept refused by OpenAI, not retried (HTTP {}{}{}): {}", result.status, why.empty() ? "" : " ", why,
                  result.apiMessage.empty() ? result.error : result.apiMessage);
        auto body = json::object();
        body->set("ok", true);
        body->set("accepted", false);
        body->set("error", "accept_refused");
        body->set("status", result.status);
        return {200, json::stringify(body)};
    }

    record.outcome = "accept_failed";
    services_.metrics.increment(
        metrics::name::kAcceptFailures,
        {{"tenant", record.tenantId}, {"reason", result.timedOut ? "timeout" : "error"}, {"status", status}});
    saveCallRecord(services_, record);
    log.error("accept failed after {} attempt(s), answered 502 for OpenAI to redeliver: {}", result.attempts,
              result.error);
    return {502, json::detail("Call accept failed")}; // not marked seen: the redelivery retries
}

CallEndedHandler::CallEndedHandler(tenants::TenantStore& store, CallLedger& ledger, SessionLauncher& sessions,
                                   metrics::MetricsRegistry& metrics, const Clock& clock)
    : store_(store), ledger_(ledger), sessions_(sessions), metrics_(metrics), clock_(clock) {}

WebhookResponse CallEndedHandler::handle(const webhook::WebhookEvent& event) {
    const auto reason = event.type.substr(event.type.rfind('.') + 1); // ended | hangup | hungup
    sessions_.endCall(event.callId, reason);
    // Whoever frees the slot first (this webhook, the session's close, the sweeper) records the end.
    if (const auto tenantId = ledger_.release(event.callId)) {
        logging::forCall(event.callId, *tenantId).info("ended ({})", reason);
        recordCallEnd(store_, metrics_, clock_, event.callId, *tenantId, reason);
    } else {
        logging::forCall(event.callId).info("{} for a call holding no slot", reason);
    }
    return WebhookResponse::ok();
}

} // namespace sideband::calls
