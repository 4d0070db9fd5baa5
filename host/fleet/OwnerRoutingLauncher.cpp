#include "fleet/OwnerRoutingLauncher.h"

#include "core/Logging.h"

namespace sideband::fleet {

void OwnerRoutingLauncher::endCall(const std::string& callId, const std::string& reason) {
    std::string owner;
    try {
        owner = ledger_.owner(callId);
    } catch (const std::exception& e) {
        // Redis is down: the owner's session ends by itself (OpenAI closes the socket) or by the sweep.
        logging::forCall(callId).warn("{}: owner unknown ({}); its replica is not told", reason, e.what());
    }
    if (owner.empty() || owner == replicaId_) {
        local_.endCall(callId, reason);
        return;
    }
    logging::forCall(callId).info("{}: session on replica {}, told over the call-end bus", reason, owner);
    bus_.publish(owner, callId, reason);
}

} // namespace sideband::fleet
