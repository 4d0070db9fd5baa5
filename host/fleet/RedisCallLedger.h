#pragma once

#include "calls/CallLedger.h"
#include "core/Clock.h"
#include "fleet/RedisClient.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sideband::metrics {
class MetricsRegistry;
}

namespace sideband::fleet {

// The call ledger shared by several replicas, in Redis. Same semantics as InMemoryCallLedger (read
// its comments); reserve, promote, release and sweep are each one Lua script, so the limits hold
// across replicas.
//
// Keys (P = keyPrefix, default "sideband:"):
//   P call:<id>          hash {tenant, state (pending|active), owner (replica id), since (ms), token}
//   P slots:pending      zset of held call ids by since; P slots:active likewise (global counts = ZCARD)
//   P counts:pending     hash tenant -> pending count; P counts:active likewise (kept by the scripts)
//   P owner:<replica>    set of the call ids a replica holds
//   P replicas           set of replica ids that have held slots
//   P replica:<replica>  the replica's lease, renewed every leaseTtl/3 (PX leaseTtl) by start()'s thread
//   P accepted:<id>      accepted within the hour (SET PX 1 h)
// A replica that stops renewing its lease (SIGKILL, hung) loses its slots at the next sweep of any
// replica once the lease expired: Swept reason "replica_lost". Keys are computed inside the scripts,
// so this needs one Redis (or a primary with replicas), not Redis Cluster.
//
// Fail closed: while Redis is unreachable reserve() answers AtCapacity; promote, release and
// markAccepted go to a bounded retry list replayed in order once Redis answers again (the heartbeat
// and every operation try), so a short outage leaks no slot. When the list is full the oldest write
// is dropped and counted (sideband_ledger_retries_dropped_total); the sweep frees such a slot later.
// A reserve that timed out after it was sent may still run on the server: it answered AtCapacity, so
// an "unreserve" (free the slot only if that very reservation, by its token, took it) is queued too.
// A Redis restart without persistence forgets every slot: calls in progress go on, uncounted.
struct RedisCallLedgerOptions {
    std::string keyPrefix = "sideband:";
    std::size_t retryLimit = 10000; // queued writes kept during an outage
};

class RedisCallLedger final : public calls::CallLedger {
public:
    using Options = RedisCallLedgerOptions;

    RedisCallLedger(RedisClient& redis, std::string replicaId, std::chrono::milliseconds leaseTtl, const Clock& clock,
                    metrics::MetricsRegistry* metrics = nullptr, Options options = {});
    RedisCallLedger(RedisClient& redis, std::string replicaId, std::chrono::milliseconds leaseTtl, const Clock& clock,
                    metrics::MetricsRegistry* metrics, std::string keyPrefix)
        : RedisCallLedger(redis, std::move(replicaId), leaseTtl, clock, metrics, Options{std::move(keyPrefix)}) {}
    ~RedisCallLedger() override;

    // Writes the lease at once, then renews it every leaseTtl/3 on a thread of its own (which also
    // replays the retry list). stop() ends the thread and leaves the lease to expire: the slots stay
    // held until then (a clean shutdown releases its calls itself first).
    void start();
    void stop();

    Reservation reserve(const std::string& callId, const std::string& tenantId, const Limits& limits) override;
    bool rename(const std::string& from, const std::string& to) override;
    void markAccepted(const std::string& callId) override;
    void promote(const std::string& callId) override;
    std::optional<std::string> release(const std::string& callId) override;
    bool isKnown(const std::string& callId) override;
    std::vector<Swept> sweep(std::chrono::seconds pendingTimeout, std::chrono::seconds maxCallDuration) override;
    std::string owner(const std::string& callId) override;
    // Read from Redis; on failure the last values read (they back /metrics and must not hang).
    Counts total() override;
    std::map<std::string, Counts> byTenant() override;

    const std::string& replicaId() const { return replicaId_; }
    std::size_t queuedRetries() const;
    // Replays the retry list now; true when it is empty afterwards.
    bool replayRetries();

private:
    enum class Op { Promote, Release, Accept, Unreserve };
    struct Retry {
        Op op;
        std::string callId;
        std::string token; // Unreserve: frees the slot only if this reservation took it
        std::uint64_t sequence = 0;
    };

    void renewLease();
    void heartbeatLoop();
    void runOp(const Retry& retry); // throws SharedStateUnavailable
    void runOrQueue(const Retry& write, const char* what);
    std::optional<std::string> releaseInRedis(const std::string& callId);
    void queue(Retry retry);
    void forgetLocal(const std::string& callId);
    std::string key(const std::string& suffix) const { return prefix_ + suffix; }
    std::string nowMs() const;

    RedisClient& redis_;
    const std::string replicaId_;
    const std::chrono::milliseconds leaseTtl_;
    const Clock& clock_;
    metrics::MetricsRegistry* const metrics_;
    const std::string prefix_;
    const std::size_t retryLimit_;

    mutable std::mutex mutex_;
    std::uint64_t reservations_ = 0;
    std::uint64_t queued_ = 0;
    std::deque<Retry> retries_;
    bool replaying_ = false;
    // Calls this replica reserved, so release() can name the tenant while Redis is unreachable.
    struct Held {
        std::string tenantId;
        Clock::time_point since;
        std::string token; // the reservation's: an undo frees only the slot this reservation took
    };
    std::unordered_map<std::string, Held> local_;
    Counts lastTotal_;
    std::map<std::string, Counts> lastByTenant_;

    std::mutex heartbeatMutex_;
    std::condition_variable heartbeatWake_;
    bool stopping_ = false;
    std::thread heartbeat_;
};

} // namespace sideband::fleet
