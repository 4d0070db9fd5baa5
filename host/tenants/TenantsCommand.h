#pragma once

#include <string>
#include <vector>

namespace sideband::tenants {

// `sideband-host tenants import DIR [--db URL]` and `sideband-host tenants list [--db URL]`
// (docs/tenants.md). The database defaults to SIDEBAND_DB, else sqlite:sideband.db.
// Exit codes: 0 done, 64 usage, 65 a definition is invalid or conflicts with the database (nothing
// was written), 69 the database is unavailable, 78 SIDEBAND_DB names no supported store.
int runTenantsCommand(const std::vector<std::string> &args);

} // namespace sideband::tenants
