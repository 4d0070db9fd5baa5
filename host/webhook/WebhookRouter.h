#pragma once

#include "webhook/WebhookEvent.h"
#include "webhook/WebhookResponse.h"

#include <map>
#include <memory>
#include <string>

namespace sideband::webhook {

// One handler per event type. Handlers answer every outcome they decide themselves (a rejected
// call is still a 200); an exception or a 5xx means "not processed, redeliver".
class WebhookEventHandler {
public:
    virtual ~WebhookEventHandler() = default;
    virtual WebhookResponse handle(const WebhookEvent& event) = 0;
};

class WebhookRouter {
public:
    void add(const std::string& eventType, std::shared_ptr<WebhookEventHandler> handler);
    // nullptr for an event type nobody handles.
    WebhookEventHandler* find(const std::string& eventType) const;

private:
    std::map<std::string, std::shared_ptr<WebhookEventHandler>> handlers_;
};

} // namespace sideband::webhook
