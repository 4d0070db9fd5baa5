#include "calls/CallLedger.h"

namespace sideband::calls {

CallLedger::Reservation InMemoryCallLedger::reserve(const std::string& callId, const std::string& tenantId,
                                                    const Limits& limits) {
    std::lock_guard lock(mutex_);
    if (slots_.count(callId) || accepted_.count(callId)) return Reservation::DuplicateCall;
    auto& tenant = tenants_[tenantId];
    if (tenant.inUse() >= limits.tenant || total_.inUse() >= limits.global) return Reservation::AtCapacity;
    slots_.emplace(callId, Slot{tenantId, false, clock_.now()});
    ++tenant.pending;
    ++total_.pending;
    return Reservation::Reserved;
}

bool InMemoryCallLedger::rename(const std::string& from, const std::string& to) {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(from);
    if (it == slots_.end() || slots_.count(to) || accepted_.count(to)) return false;
    auto slot = std::move(it->second);
    slots_.erase(it);
    slots_.emplace(to, std::move(slot));
    return true;
}

void InMemoryCallLedger::markAccepted(const std::string& callId) {
    std::lock_guard lock(mutex_);
    accepted_[callId] = clock_.now();
}

void InMemoryCallLedger::promote(const std::string& callId) {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(callId);
    if (it == slots_.end() || it->second.active) return;
    it->second.active = true;
    it->second.since = clock_.now();
    auto& tenant = tenants_[it->second.tenantId];
    --tenant.pending;
    ++tenant.active;
    --total_.pending;
    ++total_.active;
}

std::optional<std::string> InMemoryCallLedger::release(const std::string& callId) {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(callId);
    if (it == slots_.end()) return std::nullopt;
    auto tenantId = it->second.tenantId;
    auto& tenant = tenants_[tenantId];
    if (it->second.active) {
        --tenant.active;
        --total_.active;
    } else {
        --tenant.pending;
        --total_.pending;
    }
    slots_.erase(it);
    return tenantId;
}

bool InMemoryCallLedger::isKnown(const std::string& callId) {
    std::lock_guard lock(mutex_);
    return slots_.count(callId) || accepted_.count(callId);
}

std::vector<CallLedger::Swept> InMemoryCallLedger::sweep(std::chrono::seconds pendingTimeout,
                                                         std::chrono::seconds maxCallDuration) {
    const auto now = clock_.now();
    std::vector<std::pair<std::string, Slot>> expired;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [callId, slot] : slots_) {
            const auto limit = slot.active ? maxCallDuration : pendingTimeout;
            if (now - slot.since >= limit) expired.emplace_back(callId, slot);
        }
        for (auto it = accepted_.begin(); it != accepted_.end();) {
            if (now - it->second >= kAcceptedRetention)
                it = accepted_.erase(it);
            else
                ++it;
        }
    }
    std::vector<Swept> swept;
    for (const auto& [callId, slot] : expired) {
        if (release(callId)) swept.push_back({callId, slot.tenantId, slot.active ? "never_ended" : "never_started"});
    }
    return swept;
}

CallLedger::Counts InMemoryCallLedger::total() {
    std::lock_guard lock(mutex_);
    return total_;
}

std::map<std::string, CallLedger::Counts> InMemoryCallLedger::byTenant() {
    std::lock_guard lock(mutex_);
    return tenants_;
}

} // namespace sideband::calls
