#include "tenants/CachingTenantStore.h"

#include <iterator>

namespace sideband::tenants {

CachingTenantStore::CachingTenantStore(std::unique_ptr<TenantStore> store, std::chrono::milliseconds ttl,
                                       const Clock& clock, std::size_t maxEntries)
    : ForwardingTenantStore(std::move(store)), ttl_(ttl), clock_(clock), maxEntries_(maxEntries) {}

std::size_t CachingTenantStore::size() {
    std::lock_guard lock(mutex_);
    return routes_.size() + instructions_.size() + configs_.size();
}

void CachingTenantStore::invalidate() {
    std::lock_guard lock(mutex_);
    ++generation_;
    routes_.clear();
    instructions_.clear();
    configs_.clear();
}

// The store is read outside the lock: a slow or hanging store must not hold up the calls whose
// answers are cached. Two calls missing at once both read; the later answer is kept. An expired
// answer is read again by one call while the calls arriving meanwhile are given the last answer:
// at 1,000 calls/s, every call of the milliseconds a refresh waits for the database (behind the
// call-record writer's commit, say) would otherwise wait with it.
template <typename Value, typename Read>
Value CachingTenantStore::cached(std::map<std::string, Entry<Value>>& entries, const std::string& key, Read&& read) {
    std::uint64_t generation = 0;
    {
        std::lock_guard lock(mutex_);
        const auto found = entries.find(key);
        if (found != entries.end()) {
            if (clock_.now() < found->second.expires || found->second.refreshing) return found->second.value;
            found->second.refreshing = true;
        }
        generation = generation_;
    }
    std::optional<Value> fresh;
    try {
        fresh.emplace(read());
    } catch (...) {
        // Failures are not cached, and the last answer is not served past a failed refresh: the
        // next call asks the store again, as if nothing had been remembered.
        std::lock_guard lock(mutex_);
        if (generation == generation_) entries.erase(key);
        throw;
    }
    Value value = std::move(*fresh);
    std::lock_guard lock(mutex_);
    if (generation != generation_) return value;
    const auto now = clock_.now();
    if (entries.size() >= maxEntries_ && !entries.count(key)) {
        for (auto it = entries.begin(); it != entries.end();)
            it = now < it->second.expires ? std::next(it) : entries.erase(it);
        if (entries.size() >= maxEntries_) entries.clear();
    }
    entries[key] = Entry<Value>{value, now + ttl_};
    return value;
}

std::optional<std::string> CachingTenantStore::tenantForNumber(const std::string& e164) {
    return cached(routes_, e164, [&] { return store_->tenantForNumber(e164); });
}

Instructions CachingTenantStore::instructions(const std::string& tenantId) {
    return cached(instructions_, tenantId, [&] { return store_->instructions(tenantId); });
}

TenantConfig CachingTenantStore::config(const std::string& tenantId) {
    return cached(configs_, tenantId, [&] { return store_->config(tenantId); });
}

void CachingTenantStore::upsertTenant(const TenantDefinition& tenant) {
    store_->upsertTenant(tenant);
    invalidate();
}

void CachingTenantStore::upsertTenants(const std::vector<TenantDefinition>& tenants) {
    store_->upsertTenants(tenants);
    invalidate();
}

} // namespace sideband::tenants
