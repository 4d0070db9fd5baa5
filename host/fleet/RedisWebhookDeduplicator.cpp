#include "fleet/RedisWebhookDeduplicator.h"

#include <spdlog/spdlog.h>

namespace sideband::fleet {

namespace {

// KEYS[1] the id's key; ARGV[1] in-flight TTL ms.
const RedisClient::Script& claimScript() {
    static const RedisClient::Script script(R"lua(
if redis.call('SET', KEYS[1], 'inflight', 'NX', 'PX', ARGV[1]) then return 'new' end
local value = redis.call('GET', KEYS[1])
if value == 'done' then return 'duplicate' end
if value == 'inflight' then return 'inflight' end
redis.call('SET', KEYS[1], 'inflight', 'PX', ARGV[1])
return 'new'
)lua");
    return script;
}

const RedisClient::Script& abandonScript() {
    static const RedisClient::Script script(R"lua(
if redis.call('GET', KEYS[1]) == 'inflight' then return redis.call('DEL', KEYS[1]) end
return 0
)lua");
    return script;
}

} // namespace

RedisWebhookDeduplicator::RedisWebhookDeduplicator(RedisClient& redis, Options options)
    : redis_(redis), options_(std::move(options)) {}

webhook::WebhookDeduplicator::Claim RedisWebhookDeduplicator::claim(const std::string& webhookId) {
    RedisReply reply;
    try {
        reply =
            redis_.eval("dedup_claim", claimScript(), {key(webhookId)}, {std::to_string(options_.inflightTtl.count())});
    } catch (const RedisCommandError& e) {
        throw SharedStateUnavailable(e.what()); // cannot decide: treat like an outage (503, redelivered)
    }
    if (reply.str == "duplicate") return Claim::Duplicate;
    if (reply.str == "inflight") return Claim::InFlight;
    return Claim::New;
}

void RedisWebhookDeduplicator::complete(const std::string& webhookId) {
    try {
        redis_.command("dedup_complete", {"SET", key(webhookId), "done", "PX", std::to_string(options_.ttl.count())});
    } catch (const std::exception& e) {
        spdlog::warn("dedup: could not mark webhook {} processed: {}", webhookId, e.what());
    }
}

void RedisWebhookDeduplicator::abandon(const std::string& webhookId) {
    try {
        redis_.eval("dedup_abandon", abandonScript(), {key(webhookId)}, {});
    } catch (const std::exception& e) {
        // The in-flight marker expires by itself after inflightTtl; the redelivery is processed then.
        spdlog::warn("dedup: could not abandon webhook {}: {}", webhookId, e.what());
    }
}

} // namespace sideband::fleet
