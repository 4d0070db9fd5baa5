#pragma once

#include <string>
#include <vector>

namespace sideband::tenants {

// `sideband-host tenants import DIR [--db URL]` and `sideband-host tenants list [--db URL]`
// (docs/tenants.md); `sideband-host tenants token create|list|revoke TENANT ...`, a tenant's web
// tokens (docs/webrtc.md). The database defaults to SIDEBAND_DB, else sqlite:sideband.db.
// Exit codes: 0 done, 64 usage (a bad --origin or --rate too), 65 a definition is invalid or
// conflicts with the database (nothing was written), or an unknown tenant or token, 69 the database
// is unavailable, 78 SIDEBAND_DB names no supported store.
int runTenantsCommand(const std::vector<std::string> &args);

} // namespace sideband::tenants
