#include "calls/CallEnd.h"

#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"

namespace sideband::calls {

void recordCallEnd(tenants::TenantStore& store, metrics::MetricsRegistry& metrics, const Clock& clock,
                   const std::string& callId, const std::string& tenantId, const std::string& reason) {
    metrics.increment(metrics::name::kCallsEnded, {{"tenant", tenantId}, {"reason", reason}});
    try {
        store.recordCallEnded(callId, reason, clock.now());
    } catch (const tenants::StoreError& e) {
        metrics.increment(metrics::name::kStoreErrors, {{"tenant", tenantId}, {"operation", "record_end"}});
        logging::forCall(callId, tenantId).error("cannot record the end: {}", e.what());
    }
}

} // namespace sideband::calls
