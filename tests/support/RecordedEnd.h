#pragma once

#include "Eventually.h"
#include "tenants/TenantStore.h"

#include <string>

namespace sideband::testing {

// A call's end is recorded by whoever frees its slot (the ended webhook, the session's worker, the
// sweeper), and the session's worker records it just after releasing: wait for the record.
inline std::string recordedEndReason(tenants::TenantStore& store, const std::string& callId) {
    const auto recorded = [&] {
        const auto call = store.findCall(callId);
        return call && !call->endReason.empty();
    };
    return eventually(recorded) ? store.findCall(callId)->endReason : std::string("(not recorded)");
}

} // namespace sideband::testing
