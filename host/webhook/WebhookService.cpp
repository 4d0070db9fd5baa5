#include "webhook/WebhookService.h"

#include "metrics/SidebandMetrics.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace sideband::webhook {

WebhookService::WebhookService(const WebhookVerifier& verifier, WebhookDeduplicator& deduplicator,
                               const WebhookRouter& router, metrics::MetricsRegistry& metrics)
    : verifier_(verifier), deduplicator_(deduplicator), router_(router), metrics_(metrics) {}

WebhookResponse WebhookService::handle(const SignatureHeaders& headers, const std::string& rawBody) {
    const auto started = std::chrono::steady_clock::now();
    std::string typeLabel = "unknown";
    std::string outcome = "error";
    auto response = process(headers, rawBody, typeLabel, outcome);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    metrics_.increment(metrics::name::kWebhooks, {{"type", typeLabel}, {"outcome", outcome}});
    metrics_.observe(metrics::name::kWebhookSeconds, elapsed.count(), {{"type", typeLabel}});
    return response;
}

WebhookResponse WebhookService::process(const SignatureHeaders& headers, const std::string& rawBody,
                                        std::string& typeLabel, std::string& outcome) {
    const auto verdict = verifier_.verify(headers, rawBody);
    if (verdict != VerifyResult::Ok) {
        outcome = "invalid_signature";
        spdlog::warn("webhook refused: invalid signature ({}), webhook-id={:.64}", describe(verdict), headers.id);
        return WebhookResponse::invalidSignature();
    }

    const auto event = parseWebhookEvent(rawBody);
    if (!event) {
        outcome = "invalid_request";
        spdlog::warn("webhook refused: malformed body, webhook-id={:.64}", headers.id);
        return WebhookResponse::invalidRequest();
    }

    WebhookEventHandler* handler = router_.find(event->type);
    // Only known types become label values: the type is caller-controlled text.
    typeLabel = handler ? event->type : "other";
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

    switch (deduplicator_.claim(event->id)) {
    case WebhookDeduplicator::Claim::Duplicate:
        outcome = "deduped";
        spdlog::info("webhook deduped: id={:.64} call={:.64}", event->id, event->callId);
        return WebhookResponse::deduped();
    case WebhookDeduplicator::Claim::InFlight:
        outcome = "in_flight";
        spdlog::info("webhook redelivered while in flight: id={:.64}", event->id);
        return WebhookResponse::inFlight();
    case WebhookDeduplicator::Claim::New: break;
    }

    WebhookResponse response;
    try {
        response = handler->handle(*event);
    } catch (const std::exception& e) {
        spdlog::error("webhook handler failed: type={} id={:.64} call={:.64}: {}", event->type, event->id,
                      event->callId, e.what());
        response = WebhookResponse::internalError();
    }
    if (response.status >= 500) {
        deduplicator_.abandon(event->id); // not processed: let the redelivery in
        outcome = "failed";
    } else {
        deduplicator_.complete(event->id);
        outcome = "processed";
    }
    return response;
}

} // namespace sideband::webhook
