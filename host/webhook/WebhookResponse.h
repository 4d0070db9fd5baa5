#pragma once

#include <string>

namespace sideband::webhook {

// What the webhook endpoint answers: an HTTP status and a JSON body, independent of the HTTP
// library so the whole flow is testable without sockets.
struct WebhookResponse {
    int status = 200;
    std::string body;

    bool operator==(const WebhookResponse& other) const { return status == other.status && body == other.body; }

    static WebhookResponse ok();
    static WebhookResponse ignored(const std::string& reason);
    static WebhookResponse deduped();
    static WebhookResponse invalidSignature();
    static WebhookResponse invalidRequest();
    static WebhookResponse inFlight();
    static WebhookResponse internalError();
    static WebhookResponse draining();
};

} // namespace sideband::webhook
