#pragma once

#include "core/Clock.h"
#include "metrics/MetricsRegistry.h"
#include "tenants/TenantStore.h"

#include <string>

namespace sideband::calls {

// Records the end of a call whose slot the caller just released: the ended metric and the call
// record's end. Whoever frees the slot first (ended webhook, the session's close, the sweeper)
// calls this, so an end is recorded once. A store failure is counted and logged, never thrown.
void recordCallEnd(tenants::TenantStore& store, metrics::MetricsRegistry& metrics, const Clock& clock,
                   const std::string& callId, const std::string& tenantId, const std::string& reason);

} // namespace sideband::calls
