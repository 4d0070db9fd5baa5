#include "RedisServer.h"
#include "fleet/RedisWebhookDeduplicator.h"
#include "metrics/SidebandMetrics.h"

#include <gtest/gtest.h>

#include <thread>

using namespace std::chrono_literals;
using sideband::fleet::RedisClient;
using sideband::fleet::RedisWebhookDeduplicator;
using sideband::fleet::SharedStateUnavailable;
using Claim = sideband::webhook::WebhookDeduplicator::Claim;

namespace {

struct TwoReplicas {
    explicit TwoReplicas(const std::string& url, RedisWebhookDeduplicator::Options options = {})
        : redisA(opts(url)), redisB(opts(url)), a(redisA, withPrefix(options)), b(redisB, withPrefix(options)) {}

    static RedisClient::Options opts(const std::string& url) {
        RedisClient::Options o;
        o.url = url;
        o.commandTimeout = 300ms;
        return o;
    }
    RedisWebhookDeduplicator::Options withPrefix(RedisWebhookDeduplicator::Options options) {
        options.keyPrefix = prefix;
        return options;
    }

    std::string prefix = sideband::testing::uniquePrefix();
    RedisClient redisA, redisB;
    RedisWebhookDeduplicator a, b;
};

} // namespace

TEST(RedisWebhookDeduplicator, AClaimOnOneReplicaIsInFlightOnTheOtherThenDuplicateOnBoth) {
    TwoReplicas fleet(sideband::testing::sharedRedisUrl());
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::New);
    EXPECT_EQ(fleet.b.claim("evt_1"), Claim::InFlight);
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::InFlight);
    fleet.a.complete("evt_1");
    EXPECT_EQ(fleet.b.claim("evt_1"), Claim::Duplicate);
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::Duplicate);
    EXPECT_EQ(fleet.b.claim("evt_2"), Claim::New);
}

TEST(RedisWebhookDeduplicator, AnAbandonedIdIsProcessedOnRedeliveryToAnotherReplica) {
    TwoReplicas fleet(sideband::testing::sharedRedisUrl());
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::New);
    fleet.a.abandon("evt_1"); // answered 5xx: never marked seen
    EXPECT_EQ(fleet.b.claim("evt_1"), Claim::New);
    fleet.b.complete("evt_1");
    fleet.a.abandon("evt_1"); // a late abandon does not forget a processed id
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::Duplicate);
}

TEST(RedisWebhookDeduplicator, TheInFlightMarkerExpiresAndCompletedIdsExpireAfterTheTtl) {
    RedisWebhookDeduplicator::Options options;
    options.inflightTtl = 150ms;
    options.ttl = 300ms;
    TwoReplicas fleet(sideband::testing::sharedRedisUrl(), options);
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::New); // replica a dies while processing
    std::this_thread::sleep_for(250ms);
    EXPECT_EQ(fleet.b.claim("evt_1"), Claim::New);
    fleet.b.complete("evt_1");
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::Duplicate);
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(fleet.a.claim("evt_1"), Claim::New);
}

TEST(RedisWebhookDeduplicator, ClaimThrowsWhenRedisIsDownAndCompleteAndAbandonDoNot) {
    sideband::testing::RedisServer server;
    sideband::metrics::MetricsRegistry metrics;
    sideband::metrics::declareSidebandMetrics(metrics);
    RedisClient redis(TwoReplicas::opts(server.url()), &metrics);
    RedisWebhookDeduplicator dedup(redis, {sideband::testing::uniquePrefix()});
    EXPECT_EQ(dedup.claim("evt_1"), Claim::New);
    server.stop();
    EXPECT_THROW(dedup.claim("evt_2"), SharedStateUnavailable);
    EXPECT_NO_THROW(dedup.complete("evt_1"));
    EXPECT_NO_THROW(dedup.abandon("evt_1"));
    EXPECT_GE(metrics.value(sideband::metrics::name::kRedisErrors, {{"operation", "dedup_claim"}}), 1);
    EXPECT_GE(metrics.value(sideband::metrics::name::kRedisErrors, {{"operation", "dedup_complete"}}), 1);
}
