#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sideband::simulator {

// One webhook event as OpenAI would deliver it: the ids stay fixed across redeliveries.
struct WebhookEvent {
    std::string webhookId; // webhook-id header (wh_...)
    std::string eventId;   // the body's "id" (evt_...)
    std::string type;
    std::string callId;
    std::string body; // the exact bytes that are signed and sent
};

struct IncomingCall {
    std::string callId; // empty: a fresh rtc_<32 hex>
    std::string from = "+14155550100";
    std::string fromName; // display name in From, e.g. "Alice"
    std::string to = "+18005550123";
    std::vector<std::pair<std::string, std::string>> extraSipHeaders; // appended after Call-ID
};

// realtime.call.incoming in the reference shape (object, id, type, created_at, data.call_id,
// data.sip_headers From/To/Call-ID with display name and tag).
WebhookEvent makeIncomingCallEvent(const IncomingCall& call);
// realtime.call.ended / realtime.call.hangup / realtime.call.hungup (or any type) for a call.
WebhookEvent makeCallEvent(const std::string& type, const std::string& callId);
// An event with a caller-provided body (the ids are taken from it where present).
WebhookEvent makeRawEvent(const std::string& body, const std::string& webhookId = {});

struct WebhookDelivery {
    int status = 0; // 0: no HTTP answer (see error)
    std::string body;
    std::string error;                          // connection/TLS failure, readable
    std::map<std::string, std::string> headers; // what was sent, webhook-signature included
    std::chrono::microseconds elapsed{0};
};

struct WebhookSenderOptions {
    std::string url;    // the host's webhook URL, http:// or https://
    std::string caFile; // https: verify the host against this CA (empty: the system's CAs)
    std::string secret; // as in OPENAI_WEBHOOK_SECRET; the first secret signs
    std::chrono::milliseconds timeout{15000};
};

// OpenAI's webhook delivery: Standard Webhooks headers signed with sideband's computeSignature,
// POSTed over verified TLS (or plain HTTP). Never logs the secret.
class WebhookSender {
public:
    explicit WebhookSender(WebhookSenderOptions options); // throws std::invalid_argument on a bad secret/url
    // Signs with the current time and POSTs. Delivering the same event again is a redelivery:
    // same webhook-id, same body, fresh timestamp (as OpenAI retries).
    WebhookDelivery deliver(const WebhookEvent& event) const;
    // The three signature headers for `event` at `timestamp` (Unix seconds).
    std::map<std::string, std::string> signatureHeaders(const WebhookEvent& event, long long timestamp) const;

private:
    WebhookSenderOptions options_;
    std::string key_;
};

// A fresh id: prefix + `digits` lower-case hex digits (e.g. "rtc_", "evt_", "wh_").
std::string randomId(const std::string& prefix, std::size_t digits = 32);

} // namespace sideband::simulator
