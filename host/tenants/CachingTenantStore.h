#pragma once

#include "core/Clock.h"
#include "tenants/ForwardingTenantStore.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

namespace sideband::tenants {

// A TenantStore that answers the three reads every incoming call makes (the number's tenant, its
// instructions, its config) from memory for `ttl` after reading them from the store it wraps.
// Everything else goes straight through (web tokens too: a revoked token stops working at once).
//
// Why: those reads are the same for every call to a tenant, and each costs a statement preparation
// and a round trip through the store's lock on the webhook's critical path.
//
// What it changes: a tenant edited by another process (`sideband-host tenants import` next to the
// running host) is seen by new calls within `ttl`, or at once after invalidate() (SIGHUP). Writes
// made through this object drop the cache at once. Failures are never cached: while the store is
// down every call asks it again, so the pipeline's fallbacks see the failure as before.
// Memory is bounded: dialed numbers come from callers, so a table that reaches `maxEntries` drops
// its expired entries, and starts over if that is not enough.
class CachingTenantStore final : public ForwardingTenantStore {
public:
    CachingTenantStore(std::unique_ptr<TenantStore> store, std::chrono::milliseconds ttl, const Clock& clock,
                       std::size_t maxEntries = 10000);

    // Forget everything read so far; the next call reads the store.
    void invalidate();
    // Entries held across the three tables (for tests and diagnostics).
    std::size_t size();

    std::optional<std::string> tenantForNumber(const std::string& e164) override;
    Instructions instructions(const std::string& tenantId) override;
    TenantConfig config(const std::string& tenantId) override;

    void upsertTenant(const TenantDefinition& tenant) override;
    void upsertTenants(const std::vector<TenantDefinition>& tenants) override;

private:
    template <typename Value> struct Entry {
        Value value;
        Clock::time_point expires;
        bool refreshing = false; // expired, and one call is reading the store again
    };
    template <typename Value, typename Read>
    Value cached(std::map<std::string, Entry<Value>>& entries, const std::string& key, Read&& read);

    const std::chrono::milliseconds ttl_;
    const Clock& clock_;
    const std::size_t maxEntries_;

    std::mutex mutex_;
    std::uint64_t generation_ = 0; // bumped by invalidate(): a read that started before is not kept
    std::map<std::string, Entry<std::optional<std::string>>> routes_;
    std::map<std::string, Entry<Instructions>> instructions_;
    std::map<std::string, Entry<TenantConfig>> configs_;
};

} // namespace sideband::tenants
