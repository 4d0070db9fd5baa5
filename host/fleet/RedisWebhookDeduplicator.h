#pragma once

#include "fleet/RedisClient.h"
#include "webhook/WebhookDeduplicator.h"

#include <chrono>
#include <string>

namespace sideband::metrics {
class MetricsRegistry;
}

namespace sideband::fleet {

// Webhook deduplication shared by several replicas, in Redis, with InMemoryWebhookDeduplicator's
// semantics. One key per webhook id, P "webhook:<id>" (P = keyPrefix, default "sideband:"):
//   claim    SET NX "inflight" PX inflightTtl -> New; otherwise "done" -> Duplicate, "inflight" -> InFlight
//            (one Lua script, one round trip). The in-flight marker expires by itself, so a replica
//            that dies mid-delivery does not block OpenAI's redelivery for longer than inflightTtl.
//   complete SET "done" PX ttl (30 minutes).
//   abandon  deleted only while still "inflight" (Lua): a 5xx answer never marks the id seen.
// claim() throws SharedStateUnavailable when Redis cannot be reached (answer 503: OpenAI redelivers);
// complete() and abandon() log and count their failures (sideband_redis_errors_total), never throw.
struct RedisWebhookDeduplicatorOptions {
    std::string keyPrefix = "sideband:";
    std::chrono::milliseconds ttl = std::chrono::minutes(30);
    std::chrono::milliseconds inflightTtl = std::chrono::seconds(60);
};

class RedisWebhookDeduplicator final : public webhook::WebhookDeduplicator {
public:
    using Options = RedisWebhookDeduplicatorOptions;

    explicit RedisWebhookDeduplicator(RedisClient& redis, Options options = {});

    Claim claim(const std::string& webhookId) override;
    void complete(const std::string& webhookId) override;
    void abandon(const std::string& webhookId) override;
    bool remote() const override { return true; } // claim() waits on Redis: not on an event loop

private:
    std::string key(const std::string& webhookId) const { return options_.keyPrefix + "webhook:" + webhookId; }

    RedisClient& redis_;
    const Options options_;
};

} // namespace sideband::fleet
