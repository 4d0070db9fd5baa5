#pragma once

#include "calls/CallLedger.h"
#include "calls/SessionLauncher.h"
#include "fleet/CallEndBus.h"

#include <string>

namespace sideband::fleet {

// The session launcher of a replica in a fleet. A call's session lives on the replica that accepted
// it (the ledger names it: CallLedger::owner); an ended or hangup webhook may reach any replica. This
// closes the session here if it is here, and otherwise tells the owner over the call-end bus. Read the
// owner before the slot is released: CallEndedHandler ends the session first, then releases.
class OwnerRoutingLauncher final : public calls::SessionLauncher {
public:
    OwnerRoutingLauncher(calls::SessionLauncher& local, calls::CallLedger& ledger, CallEndBus& bus,
                         std::string replicaId)
        : local_(local), ledger_(ledger), bus_(bus), replicaId_(std::move(replicaId)) {}

    void launch(calls::AcceptedCall call) override { local_.launch(std::move(call)); }
    void endCall(const std::string& callId, const std::string& reason) override;
    void hangUp(const std::string& callId, const std::string& tenantId, const std::string& reason) override {
        local_.hangUp(callId, tenantId, reason);
    }

private:
    calls::SessionLauncher& local_;
    calls::CallLedger& ledger_;
    CallEndBus& bus_;
    const std::string replicaId_;
};

} // namespace sideband::fleet
