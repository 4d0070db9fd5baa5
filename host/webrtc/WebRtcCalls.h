#pragma once

#include "calls/CallSetup.h"
#include "http/HttpEndpoint.h"
#include "webrtc/CallEventLogs.h"
#include "webrtc/RecentCreates.h"
#include "webrtc/TokenRateLimiter.h"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace sideband::webrtc {

struct WebRtcOptions {
    std::vector<std::string> corsOrigins; // answered with CORS; "*": any origin
    std::size_t maxOfferBytes = 64 * 1024;
    bool page = false; // serve the try-it page at /webrtc/
};

// Browsers' calls over WebRTC (docs/webrtc.md): a tenant's web token and the browser's SDP offer
// in; the call created at OpenAI with the tenant's instructions and tools (the API key stays
// here), the SDP answer out. The call then takes the same path as a SIP call: the same ledger
// slots, records, sideband session and hang-up.
//
//   POST    /api/v1/webrtc/calls          application/sdp offer -> 201 application/sdp answer
//   GET     /api/v1/webrtc/calls/events   ?call_id=&after=      -> the call's live event log
//   POST    /api/v1/webrtc/calls/hangup   ?call_id=             -> hung up at OpenAI
//   OPTIONS on each: CORS preflight for the configured origins
//   GET     /webrtc/, /webrtc/app.js      the try-it page (WebRtcOptions::page)
class WebRtcCalls {
public:
    WebRtcCalls(calls::PipelineServices services, calls::PipelineOptions pipeline, WebRtcOptions options,
                CallEventLogs& logs);

    void addRoutes(http::Routes& routes);
    // Draining: new calls are answered 503 (the browser may try again, reaching another replica).
    void setDraining(bool draining) { draining_ = draining; }

    http::Response create(const http::Request& request);
    http::Response events(const http::Request& request);
    http::Response hangup(const http::Request& request);
    http::Response preflight(const http::Request& request) const;

private:
    struct Caller; // the request's token, once authorised
    std::optional<Caller> authorise(const http::Request& request, http::Response& refusal, bool originRequired);
    http::Response refuse(const http::Request& request, int status, const char* outcome, const std::string& detail,
                          std::optional<int> retryAfterSeconds = std::nullopt) const;
    http::Response createCall(const http::Request& request, const Caller& caller);
    http::Response answered(const http::Request& request, const std::string& callId,
                            const std::string& sdpAnswer) const; // 201 with the SDP answer
    void allowOrigin(const http::Request& request, http::Response& response) const;
    bool corsAllowed(const std::string& origin) const;
    void count(const char* outcome) const;

    calls::PipelineServices services_;
    calls::PipelineOptions pipeline_;
    WebRtcOptions options_;
    CallEventLogs& logs_;
    TokenRateLimiter rate_;
    RecentCreates recentCreates_;
    std::atomic<bool> draining_{false};
};

} // namespace sideband::webrtc
