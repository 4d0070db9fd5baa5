// libFuzzer target: parseWebhookEvent on arbitrary bytes (a verified body is still attacker-shaped).
// Properties (abort when violated):
//   - it never throws (documented: nullopt for any malformed body);
//   - a parsed event has a non-empty type, and its strings (id, type, call_id, every SIP header
//     name and value) are each no longer than the input, as are the SIP headers together;
//   - parsing is deterministic: the same body parses to the same event.
#include "FuzzSupport.h"

#include "webhook/WebhookEvent.h"

#include <cstdint>
#include <string>

using sideband::webhook::parseWebhookEvent;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    sideband::fuzz::quietLogging();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    std::optional<sideband::webhook::WebhookEvent> event;
    try {
        event = parseWebhookEvent(body);
    } catch (...) {
        FUZZ_CHECK(!"parseWebhookEvent threw");
    }
    if (!event) return 0;

    FUZZ_CHECK(!event->type.empty());
    FUZZ_CHECK(event->type.size() <= size);
    FUZZ_CHECK(event->id.size() <= size);
    FUZZ_CHECK(event->callId.size() <= size);
    FUZZ_CHECK(event->sipHeaders.size() <= size);
    std::size_t headerBytes = 0;
    for (const auto& header : event->sipHeaders)
        headerBytes += header.name.size() + header.value.size();
    FUZZ_CHECK(headerBytes <= size);

    const auto again = parseWebhookEvent(body);
    FUZZ_CHECK(again && again->id == event->id && again->type == event->type && again->callId == event->callId &&
               again->sipHeaders.size() == event->sipHeaders.size());
    return 0;
}
