#pragma once

#include "metrics/MetricsRegistry.h"
#include "webhook/WebhookDeduplicator.h"
#include "webhook/WebhookRouter.h"
#include "webhook/WebhookSignature.h"

namespace sideband::webhook {

// The front door's decision procedure, in the spec's order: verify the signature over the raw
// body, parse, ignore what cannot be acted on, deduplicate, route.
class WebhookService {
public:
    WebhookService(const WebhookVerifier& verifier, WebhookDeduplicator& deduplicator, const WebhookRouter& router,
                   metrics::MetricsRegistry& metrics);

    WebhookResponse handle(const SignatureHeaders& headers, const std::string& rawBody);

private:
    WebhookResponse process(const SignatureHeaders& headers, const std::string& rawBody, std::string& typeLabel,
                            std::string& outcome);

    const WebhookVerifier& verifier_;
    WebhookDeduplicator& deduplicator_;
    const WebhookRouter& router_;
    metrics::MetricsRegistry& metrics_;
};

} // namespace sideband::webhook
