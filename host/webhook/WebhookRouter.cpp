#include "webhook/WebhookRouter.h"

namespace sideband::webhook {

void WebhookRouter::add(const std::string& eventType, std::shared_ptr<WebhookEventHandler> handler) {
    handlers_[eventType] = std::move(handler);
}

WebhookEventHandler* WebhookRouter::find(const std::string& eventType) const {
    auto it = handlers_.find(eventType);
    return it == handlers_.end() ? nullptr : it->second.get();
}

} // namespace sideband::webhook
