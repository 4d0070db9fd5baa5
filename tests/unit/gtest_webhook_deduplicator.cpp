#include "webhook/WebhookDeduplicator.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using sideband::ManualClock;
using sideband::webhook::InMemoryWebhookDeduplicator;
using Claim = sideband::webhook::WebhookDeduplicator::Claim;

TEST(WebhookDeduplicator, FirstSightingIsNew) {
    ManualClock clock{1000s};
    InMemoryWebhookDeduplicator dedup(clock);
    EXPECT_EQ(dedup.claim("evt_1"), Claim::New);
}

TEST(WebhookDeduplicator, CompletedIdIsDuplicateWithinTtl) {
    ManualClock clock{1000s};
    InMemoryWebhookDeduplicator dedup(clock, 30min);
    dedup.claim("evt_1");
    dedup.complete("evt_1");
    clock.advance(30min - 1s);
    EXPECT_EQ(dedup.claim("evt_1"), Claim::Duplicate);
}

TEST(WebhookDeduplicator, CompletedIdIsNewAgainAfterTtl) {
    ManualClock clock{1000s};
    InMemoryWebhookDeduplicator dedup(clock, 30min);
    dedup.claim("evt_1");
    dedup.complete("evt_1");
    clock.advance(30min);
    EXPECT_EQ(dedup.claim("evt_1"), Claim::New);
}

TEST(WebhookDeduplicator, AbandonedIdIsProcessedOnRedelivery) {
    ManualClock clock{1000s};
    InMemoryWebhookDeduplicator dedup(clock);
    dedup.claim("evt_1");
    dedup.abandon("evt_1");
    EXPECT_EQ(dedup.claim("evt_1"), Claim::New);
}

TEST(WebhookDeduplicator, ConcurrentRedeliveryIsInFlight) {
    ManualClock clock{1000s};
    InMemoryWebhookDeduplicator dedup(clock);
    dedup.claim("evt_1");
    EXPECT_EQ(dedup.claim("evt_1"), Claim::InFlight);
}

TEST(WebhookDeduplicator, PurgesExpiredIdsSoMemoryIsBounded) {
    ManualClock clock{1000s};
    InMemoryWebhookDeduplicator dedup(clock, 30min, 60s);
    for (int i = 0; i < 1000; ++i) {
        dedup.claim("evt_" + std::to_string(i));
        dedup.complete("evt_" + std::to_string(i));
    }
    EXPECT_EQ(dedup.size(), 1000u);
    clock.advance(31min);
    dedup.claim("evt_new"); // the periodic purge runs from claim()
    EXPECT_EQ(dedup.size(), 1u);
}

TEST(WebhookDeduplicator, PurgeKeepsIdsThatAreStillFresh) {
    ManualClock clock{1000s};
    InMemoryWebhookDeduplicator dedup(clock, 30min);
    dedup.claim("old");
    dedup.complete("old");
    clock.advance(20min);
    dedup.claim("young");
    dedup.complete("young");
    clock.advance(15min);
    dedup.purgeExpired();
    EXPECT_EQ(dedup.size(), 1u);
    EXPECT_EQ(dedup.claim("young"), Claim::Duplicate);
    EXPECT_EQ(dedup.claim("old"), Claim::New);
}
