#include "webhook/WebhookService.h"

#include "metrics/SidebandMetrics.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace sideband::webhook {

WebhookService::WebhookService(const WebhookVerifier& verifier, WebhookDeduplicator& deduplicator,
                               const WebhookRouter& router, metrics::MetricsRegistry& metrics)
    : verifier_(verifier), deduplicator_(deduplicator), router_(router), metrics_(metrics) {}

WebhookResponse WebhookService::handle(const SignatureHeaders& headers, const std::string& rawBody) {
    auto triaged = triage(headers, rawBody);
    return triaged.answer ? *triaged.answer : finish(triaged);
}

void WebhookService::record(const Triage& triage, const std::string& outcome) {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - triage.started;
    metrics_.increment(metrics::name::kWebhooks, {{"type", triage.typeLabel}, {"outcome", outcome}});
    metrics_.observe(metrics::name::kWebhookSeconds, elapsed.count(), {{"type", triage.typeLabel}});
}

WebhookService::Triage WebhookService::triage(const SignatureHeaders& headers, const std::string& rawBody) {
    Triage triage;
    triage.started = std::chrono::steady_clock::now();
    triage.typeLabel = "unknown";
    std::string outcome = "error";
    triage.answer = decide(headers, rawBody, triage, outcome);
    if (triage.answer) record(triage, outcome);
    return triage;
}

std::optional<WebhookResponse> WebhookService::decide(const SignatureHeaders& headers, const std::string& rawBody,
                                                      Triage& triage, std::string& outcome) {
    const auto verdict = verifier_.verify(headers, rawBody);
    if (verdict != VerifyResult::Ok) {
        outcome = "invalid_signature";
        spdlog::warn("webhook refused: invalid signature ({}), webhook-id={:.64}", describe(verdict), headers.id);
        return WebhookResponse::invalidSignature();
    }

    auto event = parseWebhookEvent(rawBody);
    if (!event) {
        outcome = "invalid_request";
        spdlog::warn("webhook refused: malformed body, webhook-id={:.64}", headers.id);
        return WebhookResponse::invalidRequest();
    }

    WebhookEventHandler* handler = router_.find(event->type);
    // Only known types become label values: the type is caller-controlled text.
    triage.typeLabel = handler ? event->type : "other";
    if (event->id.empty()) {
        outcome = "ignored";
        spdlog::info("webhook ignored: missing webhook id, type={:.64}", event->type);
        return WebhookResponse::ignored("missing_webhook_id");
    }
    if (!handler) {
        outcome = "ignored";
        spdlog::warn("webhook ignored: unsupported event type {:.64}, id={:.64}", event->type, event->id);
        return WebhookResponse::ignored("unsupported_event_type");
    }
    if (event->callId.empty()) {
        outcome = "ignored";
        spdlog::info("webhook ignored: missing call id, type={} id={:.64}", event->type, event->id);
        return WebhookResponse::ignored("missing_call_id");
    }

    triage.handler = handler;
    triage.event = std::move(event);
    // A shared deduplicator is a network round trip: the worker asks it, in finish().
    return deduplicator_.remote() ? std::nullopt : claim(triage, outcome);
}

std::optional<WebhookResponse> WebhookService::claim(Triage& triage, std::string& outcome) {
    const auto& event = *triage.event;
    WebhookDeduplicator::Claim claim;
    try {
        claim = deduplicator_.claim(event.id);
    } catch (const std::exception& e) {
        // Processed unclaimed: a redelivery meanwhile may run too, and the shared ledger (down as
        // well, or refusing the call id it already holds) keeps that from accepting a call twice.
        metrics_.increment(metrics::name::kWebhookUnclaimed);
        spdlog::warn("webhook processed without deduplication ({}): id={:.64}", e.what(), event.id);
        return std::nullopt;
    }
    // Redeliveries are OpenAI's normal retries, counted by outcome in sideband_webhooks_total: a
    // log line each (a write and the log's lock, on the event loop) would let a retry storm flood
    // the log and slow every connection, so they are logged at debug level only.
    switch (claim) {
    case WebhookDeduplicator::Claim::Duplicate:
        outcome = "deduped";
        spdlog::debug("webhook deduped: id={:.64} call={:.64}", event.id, event.callId);
        return WebhookResponse::deduped();
    case WebhookDeduplicator::Claim::InFlight:
        outcome = "in_flight";
        spdlog::debug("webhook redelivered while in flight: id={:.64}", event.id);
        return WebhookResponse::inFlight();
    case WebhookDeduplicator::Claim::New: break;
    }
    triage.claimed = true;
    return std::nullopt;
}

void WebhookService::release(const Triage& claimed) {
    if (claimed.claimed) deduplicator_.abandon(claimed.event->id);
    record(claimed, "busy");
}

WebhookResponse WebhookService::finish(Triage& claimed) {
    if (deduplicator_.remote()) {
        std::string outcome;
        if (auto answer = claim(claimed, outcome)) {
            record(claimed, outcome);
            return *answer;
        }
    }
    const auto& event = *claimed.event;
    WebhookResponse response;
    try {
        response = claimed.handler->handle(event);
    } catch (const std::exception& e) {
        spdlog::error("webhook handler failed: type={} id={:.64} call={:.64}: {}", event.type, event.id, event.callId,
                      e.what());
        response = WebhookResponse::internalError();
    }
    std::string outcome;
    if (response.status >= 500) {
        if (claimed.claimed) deduplicator_.abandon(event.id); // not processed: let the redelivery in
        outcome = "failed";
    } else {
        if (claimed.claimed) deduplicator_.complete(event.id);
        outcome = "processed";
    }
    record(claimed, outcome);
    return response;
}

} // namespace sideband::webhook
