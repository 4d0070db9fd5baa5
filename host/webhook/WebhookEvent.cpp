#include "webhook/WebhookEvent.h"

#include "core/Json.h"

#include <Poco/JSON/Array.h>

namespace sideband::webhook {
namespace {

// Absent or null is fine; present with another type is a wrong shape.
bool optionalString(const Poco::JSON::Object& object, const std::string& key, std::string& out) {
    if (!object.has(key) || object.isNull(key)) return true;
    const auto value = object.get(key);
    if (!value.isString()) return false;
    out = value.extract<std::string>();
    return true;
}

bool parseSipHeaders(const Poco::JSON::Object& data, std::vector<SipHeader>& out) {
    if (!data.has("sip_headers") || data.isNull("sip_headers")) return true;
    const auto headers = data.getArray("sip_headers");
    if (!headers) return false;
    for (std::size_t i = 0; i < headers->size(); ++i) {
        const auto header = headers->getObject(static_cast<unsigned>(i));
        if (!header) return false;
        SipHeader parsed;
        if (!optionalString(*header, "name", parsed.name) || !optionalString(*header, "value", parsed.value))
            return false;
        out.push_back(std::move(parsed));
    }
    return true;
}

} // namespace

std::optional<WebhookEvent> parseWebhookEvent(const std::string& body) {
    const auto root = json::parse(body);
    if (root.isEmpty() || root.type() != typeid(Poco::JSON::Object::Ptr)) return std::nullopt;
    const auto object = root.extract<Poco::JSON::Object::Ptr>();

    WebhookEvent event;
    if (!optionalString(*object, "type", event.type) || event.type.empty()) return std::nullopt;
    if (!optionalString(*object, "id", event.id)) return std::nullopt;

    if (object->has("data") && !object->isNull("data")) {
        event.data = object->getObject("data");
        if (!event.data) return std::nullopt;
        if (!optionalString(*event.data, "call_id", event.callId)) return std::nullopt;
        if (!parseSipHeaders(*event.data, event.sipHeaders)) return std::nullopt;
    }
    return event;
}

} // namespace sideband::webhook
