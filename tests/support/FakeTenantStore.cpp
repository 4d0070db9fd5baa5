#include "FakeTenantStore.h"

#include "core/Json.h"

namespace sideband::testing {

tenants::TenantConfig FakeTenantStore::config(const std::string& tenantId) {
    fail("config");
    std::lock_guard lock(mutex_);
    const auto& tenant = find(tenantId);
    const auto parsed = json::parse(tenant.configJson);
    if (parsed.isEmpty() || parsed.type() != typeid(Poco::JSON::Object::Ptr))
        throw tenants::StoreError(tenants::StoreErrorCode::ConfigParseError, "config of " + tenantId + " is not an object");
    tenants::TenantConfig config;
    config.tenantId = tenantId;
    config.callLimit = tenant.callLimit;
    config.settings = parsed.extract<Poco::JSON::Object::Ptr>();
    if (config.settings->has("plugin")) config.plugin = config.settings->getValue<std::string>("plugin");
    return config;
}

} // namespace sideband::testing
