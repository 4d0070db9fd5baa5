#pragma once

#include "metrics/MetricsRegistry.h"
#include "webhook/WebhookDeduplicator.h"
#include "webhook/WebhookRouter.h"
#include "webhook/WebhookSignature.h"

#include <chrono>
#include <optional>

namespace sideband::webhook {

// The front door's decision procedure, in the spec's order: verify the signature over the raw
// body, parse, ignore what cannot be acted on, deduplicate, route.
class WebhookService {
public:
    WebhookService(const WebhookVerifier& verifier, WebhookDeduplicator& deduplicator, const WebhookRouter& router,
                   metrics::MetricsRegistry& metrics);

    WebhookResponse handle(const SignatureHeaders& headers, const std::string& rawBody);

    // handle() in two steps, so that what never waits runs on an event loop and only a new event
    // takes a worker: triage() verifies, parses, ignores and deduplicates (a bad signature or a
    // redelivery is answered there); when it leaves an event claimed, finish() runs its handler.
    struct Triage {
        std::optional<WebhookResponse> answer; // decided; else `event` is claimed for finish()
        std::optional<WebhookEvent> event;
        WebhookEventHandler* handler = nullptr;
        std::string typeLabel;
        std::chrono::steady_clock::time_point started;
        bool claimed = false; // a remote deduplicator is asked on the worker, in finish()
    };
    Triage triage(const SignatureHeaders& headers, const std::string& rawBody);
    WebhookResponse finish(Triage& claimed);
    // The claimed event will not be handled now (no worker free): its redelivery must get in.
    void release(const Triage& claimed);

private:
    std::optional<WebhookResponse> claim(Triage& triage, std::string& outcome);
    std::optional<WebhookResponse> decide(const SignatureHeaders& headers, const std::string& rawBody, Triage& triage,
                                          std::string& outcome);
    void record(const Triage& triage, const std::string& outcome);

    const WebhookVerifier& verifier_;
    WebhookDeduplicator& deduplicator_;
    const WebhookRouter& router_;
    metrics::MetricsRegistry& metrics_;
};

} // namespace sideband::webhook
