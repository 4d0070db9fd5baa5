#pragma once

#include "fleet/RedisClient.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sideband::metrics {
class MetricsRegistry;
}

namespace sideband::fleet {

// Tells the replica that owns a call (CallLedger::owner) that its call ended, when the ended or
// hangup webhook reached another replica: Redis pub/sub on channel P "call-end:<replica id>"
// (P = keyPrefix, default "sideband:").
//
// Delivery is at most once. A message published while the owner's subscriber is disconnected (Redis
// restarting, the owner's network down) is lost; that is acceptable because the replica that received
// the webhook has already released the slot in the shared ledger: the capacity is right, and the
// owner's session ends by itself (the peer closes the sideband socket, or the active-too-long sweep).
// The subscriber runs on a thread of its own, reconnects and resubscribes by itself after a Redis
// restart, and pings while idle so a silently dead connection is noticed. The handler runs on that
// thread, one message at a time (nothing queues on this side; Redis bounds a slow subscriber with its
// client-output-buffer-limit): it should hand the work off and return.
struct CallEndBusOptions {
    std::string keyPrefix = "sideband:";
    std::chrono::milliseconds pollInterval{200};   // how soon stop() is noticed
    std::chrono::milliseconds pingInterval{5000};  // idle check of the subscriber connection
    std::chrono::milliseconds reconnectDelay{250}; // between subscribe attempts
};

class CallEndBus {
public:
    using Handler = std::function<void(const std::string& callId, const std::string& reason)>;
    using Options = CallEndBusOptions;

    CallEndBus(RedisClient& redis, std::string replicaId, metrics::MetricsRegistry* metrics = nullptr,
               Options options = {});
    ~CallEndBus();
    CallEndBus(const CallEndBus&) = delete;
    CallEndBus& operator=(const CallEndBus&) = delete;

    // Tells `ownerReplicaId` that `callId` ended. True when a subscriber received it; false when none
    // was listening or Redis could not be reached (logged and counted, never thrown).
    bool publish(const std::string& ownerReplicaId, const std::string& callId, const std::string& reason);

    // Subscribes to this replica's channel; `handler` runs for every end published to it.
    void start(Handler handler);
    void stop();
    // True while the subscription is established (for tests and /readyz-style checks).
    bool subscribed() const { return subscribed_.load(); }

private:
    void run();
    void dispatch(const RedisReply& message);
    std::string channel(const std::string& replicaId) const { return options_.keyPrefix + "call-end:" + replicaId; }

    RedisClient& redis_;
    const std::string replicaId_;
    metrics::MetricsRegistry* const metrics_;
    const Options options_;
    Handler handler_;

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::atomic<bool> subscribed_{false};
    std::thread thread_;
};

} // namespace sideband::fleet
