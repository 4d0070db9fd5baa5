#pragma once

#include <string>

namespace sideband::openai {

struct RestResult {
    int status = 0;       // HTTP status of the last attempt; 0 when no answer (connect error, timeout)
    std::string error;    // one readable line for logs when not ok (never contains credentials)
    int attempts = 0;
    bool timedOut = false; // status 0 because the last attempt ran out of time (not a connection error)
    // The API's own error, from a non-2xx body {"error":{"message","type","code"}}: redacted (no key
    // fragment), one line, bounded. Empty when the answer had none.
    std::string apiMessage = {};
    std::string apiType = {};
    std::string apiCode = {};

    bool ok() const { return status >= 200 && status < 300; }
    bool notFound() const { return status == 404; }
    // A 4xx that asking again cannot change (a refused body, a bad key, a forbidden project...).
    // 408, 409 and 429 are transient, like 5xx and no answer at all.
    bool permanentFailure() const {
        return status >= 400 && status < 500 && status != 408 && status != 409 && status != 429;
    }
};

// A WebRTC call created for a browser (POST /v1/realtime/calls): 201 with the SDP answer as the
// body and the call's id as the last segment of the Location header. A 2xx answer without a usable
// Location or whose body is not SDP is a failure too: its status is kept in `result`, `result.error`
// says what was wrong and callId stays empty - check ok(), not result.ok().
struct CreatedCall {
    RestResult result;
    std::string callId;    // "rtc_..."; empty unless ok()
    std::string sdpAnswer; // application/sdp, for the browser
    bool ok() const { return result.ok() && !callId.empty(); }
};

// OpenAI's Realtime call-control REST API (create / accept / reject / refer / hangup). The real
// client speaks HTTPS to OPENAI_BASE_URL; tests substitute a fake or point it at the simulator.
class CallControl {
public:
    virtual ~CallControl() = default;
    // WebRTC: creates the call from the browser's SDP offer, with `session` (a realtime session
    // object, JSON text) in force from its first word. multipart/form-data: parts `sdp`, `session`.
    virtual CreatedCall create(const std::string& sdpOffer, const std::string& session,
                               const std::string& idempotencyKey) = 0;
    // `session` is the accept body: a realtime session object (JSON text).
    virtual RestResult accept(const std::string& callId, const std::string& session,
                              const std::string& idempotencyKey) = 0;
    virtual RestResult reject(const std::string& callId, int sipStatus, const std::string& idempotencyKey) = 0;
    virtual RestResult refer(const std::string& callId, const std::string& targetUri,
                             const std::string& idempotencyKey) = 0;
    virtual RestResult hangup(const std::string& callId, const std::string& idempotencyKey) = 0;
};

} // namespace sideband::openai
