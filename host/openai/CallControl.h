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

// OpenAI's Realtime call-control REST API (accept / reject / refer / hangup). The real client
// speaks HTTPS to OPENAI_BASE_URL; tests substitute a fake or point it at the simulator.
class CallControl {
public:
    virtual ~CallControl() = default;
    // `session` is the accept body: a realtime session object (JSON text).
    virtual RestResult accept(const std::string& callId, const std::string& session,
                              const std::string& idempotencyKey) = 0;
    virtual RestResult reject(const std::string& callId, int sipStatus, const std::string& idempotencyKey) = 0;
    virtual RestResult refer(const std::string& callId, const std::string& targetUri,
                             const std::string& idempotencyKey) = 0;
    virtual RestResult hangup(const std::string& callId, const std::string& idempotencyKey) = 0;
};

} // namespace sideband::openai
