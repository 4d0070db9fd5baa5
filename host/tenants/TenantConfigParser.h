#pragma once

#include "tenants/TenantStore.h"

#include <optional>
#include <string>

namespace sideband::tenants {

// The shape rules for a tenant's config object, shared by the store (at call time) and by
// `tenants import` (before anything is written), so a config that imports is one that parses:
//   model, voice       non-empty strings
//   plugin             a plain file name inside SIDEBAND_PLUGIN_DIR (no path separators), may be ""
//   plugin_sha256      64 hexadecimal characters
//   tool_timeout_ms    integer, 1 to 600000
//   transfer_target    a tel:, sip: or sips: URI
//   plugin_config      an object (the plugin's own settings, not checked here)
// Other keys are kept in `settings` untouched. Returns "config.<key>: <problem>", or nullopt.
std::optional<std::string> tenantConfigProblem(const Poco::JSON::Object &config);

// Parses and checks a stored config; throws StoreError(ConfigParseError) naming the tenant and
// the offending key. Empty text is an empty config.
TenantConfig parseTenantConfig(const std::string &tenantId, const std::string &configJson,
                               std::optional<int> callLimit);

} // namespace sideband::tenants
