#pragma once

#include "plugins/CallTools.h"
#include "tenants/TenantStore.h"

#include <memory>
#include <string>

namespace sideband::calls {

// Watches what happens in one call (the WebRTC page's live log): each event a small JSON object
// with a "type" (session.open, function_call, function_call_output, response.done, transcript,
// call.ended). Called on session workers and tool threads; must return at once.
class CallObserver {
public:
    virtual ~CallObserver() = default;
    virtual void onCallEvent(const std::string& eventJson) = 0;
};

// Everything a call's sideband session needs, decided by the incoming-call pipeline.
struct AcceptedCall {
    std::string callId;
    std::string webhookId;
    std::string tenantId;
    std::string caller;
    std::string dialed;
    tenants::Instructions instructions;
    tenants::TenantConfig config;
    std::shared_ptr<plugins::CallTools> tools;     // null: the call runs without tools
    std::shared_ptr<plugins::CallActions> actions; // what the tools may do to the call (transfer, hang up)
    bool fallback = false;
    std::string channel = "sip";            // sip | webrtc: how the call reached OpenAI
    std::shared_ptr<CallObserver> observer; // may be null
};

// Starts and stops sideband sessions. launch() returns at once (the webhook must be answered
// fast); the launcher owns the call's ledger slot from then on: it promotes it when the session
// starts and releases it when the session fails to start or ends.
class SessionLauncher {
public:
    virtual ~SessionLauncher() = default;
    virtual void launch(AcceptedCall call) = 0;
    // An ended/hangup webhook: close the call's session if there is one.
    virtual void endCall(const std::string& callId, const std::string& reason) = 0;
    // The host ends a call OpenAI still has (the sweeper's maximum duration or pending timeout):
    // close its session if there is one, and send REST hangup once.
    virtual void hangUp(const std::string& callId, const std::string& /*tenantId*/, const std::string& reason) {
        endCall(callId, reason);
    }
};

} // namespace sideband::calls
