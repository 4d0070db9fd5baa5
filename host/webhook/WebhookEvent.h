#pragma once

#include <Poco/JSON/Object.h>

#include <optional>
#include <string>
#include <vector>

namespace sideband::webhook {

namespace event_type {
inline constexpr const char* kCallIncoming = "realtime.call.incoming";
inline constexpr const char* kCallEnded = "realtime.call.ended";
inline constexpr const char* kCallHangup = "realtime.call.hangup";
inline constexpr const char* kCallHungup = "realtime.call.hungup";
} // namespace event_type

struct SipHeader {
    std::string name;
    std::string value;
};

// A verified webhook body, reduced to what the host acts on. `id` is the event's own id: the
// product spec's dedup key and idempotency-key suffix.
struct WebhookEvent {
    std::string id;
    std::string type;
    std::string callId;
    std::vector<SipHeader> sipHeaders;
    Poco::JSON::Object::Ptr data; // the whole `data` object, may be null
};

// Parses a verified body. Returns nullopt for a malformed body: not JSON, not an object, no
// string `type`, or fields of the wrong shape (the spec's 400 "Invalid webhook request").
// Missing `id` / `data.call_id` are not malformed: they are answered "ignored" by the service.
std::optional<WebhookEvent> parseWebhookEvent(const std::string& body);

} // namespace sideband::webhook
