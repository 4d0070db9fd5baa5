#pragma once

#include "core/Clock.h"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sideband::calls {

// Capacity accounting for calls, per tenant and in total. A call holds a slot from reservation
// (pending) through its session (active) until it is released. Per the product spec:
// tenant_in_use = tenant_active + tenant_pending, global_in_use likewise, and a reservation is
// refused when either has reached its limit. The embedded default keeps this in memory; a shared
// implementation (Redis) makes the limits hold across replicas.
class CallLedger {
public:
    enum class Reservation { Reserved, AtCapacity, DuplicateCall };
    struct Counts {
        int pending = 0;
        int active = 0;
        int inUse() const { return pending + active; }
    };
    struct Limits {
        int global = 100;
        int tenant = 100;
    };
    // A slot freed by the sweeper, so its owner can record why.
    struct Swept {
        std::string callId;
        std::string tenantId;
        std::string reason; // never_started | never_ended | replica_lost (shared ledger)
    };

    virtual ~CallLedger() = default;

    // Atomically checks both limits and the call id, and reserves a pending slot.
    virtual Reservation reserve(const std::string& callId, const std::string& tenantId, const Limits& limits) = 0;
    // A WebRTC call's slot, reserved before OpenAI named the call, takes the call's id (pending or
    // active as it was). False when `from` holds no slot (swept meanwhile) or `to` is already known.
    virtual bool rename(const std::string& from, const std::string& to) = 0;
    // The call was accepted by OpenAI: remembered (for duplicate detection) for an hour even after release.
    virtual void markAccepted(const std::string& callId) = 0;
    // Pending -> active: the call's session started.
    virtual void promote(const std::string& callId) = 0;
    // Frees the call's slot, pending or active. Returns the tenant when the call held a slot.
    virtual std::optional<std::string> release(const std::string& callId) = 0;
    // Pending or active now, or accepted within the last hour.
    virtual bool isKnown(const std::string& callId) = 0;
    // Frees slots whose call never started (pending too long) or never ended (active too long),
    // and forgets accepted ids older than an hour.
    virtual std::vector<Swept> sweep(std::chrono::seconds pendingTimeout, std::chrono::seconds maxCallDuration) = 0;

    // The replica that holds the call's slot, so an ended webhook received elsewhere can be routed
    // to it; "" when no replica is named (not held, or a single host: always local).
    virtual std::string owner(const std::string& callId) {
        (void)callId;
        return {};
    }

    virtual Counts total() = 0;
    virtual std::map<std::string, Counts> byTenant() = 0;
};

class InMemoryCallLedger final : public CallLedger {
public:
    static constexpr std::chrono::hours kAcceptedRetention{1};

    explicit InMemoryCallLedger(const Clock& clock) : clock_(clock) {}

    Reservation reserve(const std::string& callId, const std::string& tenantId, const Limits& limits) override;
    bool rename(const std::string& from, const std::string& to) override;
    void markAccepted(const std::string& callId) override;
    void promote(const std::string& callId) override;
    std::optional<std::string> release(const std::string& callId) override;
    bool isKnown(const std::string& callId) override;
    std::vector<Swept> sweep(std::chrono::seconds pendingTimeout, std::chrono::seconds maxCallDuration) override;
    Counts total() override;
    std::map<std::string, Counts> byTenant() override;

private:
    struct Slot {
        std::string tenantId;
        bool active = false;
        Clock::time_point since;
    };

    const Clock& clock_;
    std::mutex mutex_;
    std::unordered_map<std::string, Slot> slots_;
    std::unordered_map<std::string, Clock::time_point> accepted_;
    std::map<std::string, Counts> tenants_;
    Counts total_;
};

} // namespace sideband::calls
