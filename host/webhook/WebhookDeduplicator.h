#pragma once

#include "core/Clock.h"

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sideband::webhook {

// Remembers processed webhook ids so a redelivery is answered without being processed twice.
// A claim is taken before processing and then either completed (remembered for the TTL) or
// abandoned (forgotten: the delivery failed with a 5xx and OpenAI's redelivery must be processed).
// The embedded default keeps ids in memory; a shared implementation serves several replicas.
class WebhookDeduplicator {
public:
    enum class Claim {
        New,       // first sighting: process it, then complete() or abandon()
        Duplicate, // processed before, within the TTL
        InFlight,  // the same id is being processed right now by another request
    };
    virtual ~WebhookDeduplicator() = default;
    // A shared implementation may throw from claim() when it cannot answer; the delivery is then
    // processed unclaimed (the shared ledger fails closed, so no call is accepted twice).
    virtual Claim claim(const std::string& webhookId) = 0;
    virtual void complete(const std::string& webhookId) = 0;
    virtual void abandon(const std::string& webhookId) = 0;
    // True when claim() waits on the network: it then runs on a worker, never on an event loop.
    virtual bool remote() const { return false; }
};

class InMemoryWebhookDeduplicator final : public WebhookDeduplicator {
public:
    static constexpr std::chrono::minutes kDefaultTtl{30};

    explicit InMemoryWebhookDeduplicator(const Clock& clock, std::chrono::seconds ttl = kDefaultTtl,
                                         std::chrono::seconds purgeInterval = std::chrono::seconds{60});

    Claim claim(const std::string& webhookId) override;
    void complete(const std::string& webhookId) override;
    void abandon(const std::string& webhookId) override;

    // Drops every completed id whose TTL has passed; also runs by itself from claim().
    void purgeExpired();
    std::size_t size() const;

private:
    void purgeExpiredLocked(Clock::time_point now);

    const Clock& clock_;
    const std::chrono::seconds ttl_;
    const std::chrono::seconds purgeInterval_;
    mutable std::mutex mutex_;
    // id -> expiry (time_point::max() while in flight)
    std::unordered_map<std::string, Clock::time_point> entries_;
    // Completed ids in completion order; with one TTL for all, that is also expiry order.
    std::deque<std::pair<Clock::time_point, std::string>> expiryQueue_;
    Clock::time_point lastPurge_;
};

} // namespace sideband::webhook
