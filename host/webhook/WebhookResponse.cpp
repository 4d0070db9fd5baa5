#include "webhook/WebhookResponse.h"

#include "core/Json.h"

namespace sideband::webhook {

WebhookResponse WebhookResponse::ok() { return {200, R"({"ok":true})"}; }

WebhookResponse WebhookResponse::ignored(const std::string& reason) {
    auto body = json::object();
    body->set("ok", true);
    body->set("ignored", true);
    body->set("reason", reason);
    return {200, json::stringify(body)};
}

WebhookResponse WebhookResponse::deduped() { return {200, R"({"ok":true,"deduped":true})"}; }
WebhookResponse WebhookResponse::invalidSignature() { return {401, json::detail("Invalid signature")}; }
WebhookResponse WebhookResponse::invalidRequest() { return {400, json::detail("Invalid webhook request")}; }

// Non-2xx on purpose: OpenAI redelivers, and by then the first attempt has either completed
// (the redelivery is deduped) or failed (the redelivery is processed). Nothing is lost.
WebhookResponse WebhookResponse::inFlight() { return {409, json::detail("Delivery already in progress")}; }

WebhookResponse WebhookResponse::internalError() { return {500, json::detail("Internal error")}; }

// A draining replica of a fleet: OpenAI redelivers the call, and the load balancer (whose /readyz
// check already failed) sends the redelivery to a replica that is up.
WebhookResponse WebhookResponse::draining() {
    return {503, json::detail("Server draining")};
}

} // namespace sideband::webhook
