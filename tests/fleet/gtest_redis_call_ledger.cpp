#include "Eventually.h"
#include "RedisServer.h"
#include "fleet/RedisCallLedger.h"
#include "metrics/SidebandMetrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using sideband::ManualClock;
using sideband::SystemClock;
using sideband::calls::CallLedger;
using sideband::fleet::RedisCallLedger;
using sideband::fleet::RedisClient;
using sideband::testing::eventually;
using sideband::testing::LogCapture;
using sideband::testing::RedisServer;
using Reservation = CallLedger::Reservation;
namespace name = sideband::metrics::name;

namespace {

// Two replicas of one fleet: their own Redis clients and ledgers, one key prefix.
struct Fleet {
    explicit Fleet(const std::string& url, std::chrono::milliseconds leaseTtl = 30s,
                   const sideband::Clock& clock = SystemClock::instance())
        : metrics(declared()), redisA(options(url), &metrics), redisB(options(url), &metrics),
          a(redisA, "replica-a", leaseTtl, clock, &metrics, prefix),
          b(redisB, "replica-b", leaseTtl, clock, &metrics, prefix) {}

    static RedisClient::Options options(const std::string& url) {
        RedisClient::Options o;
        o.url = url;
        o.commandTimeout = 300ms;
        o.retryInterval = 20ms;
        return o;
    }

    struct declared {};
    struct Metrics : sideband::metrics::MetricsRegistry {
        explicit Metrics(declared) { sideband::metrics::declareSidebandMetrics(*this); }
    } metrics;
    std::string prefix = sideband::testing::uniquePrefix();
    RedisClient redisA, redisB;
    RedisCallLedger a, b;
};

} // namespace

TEST(RedisCallLedger, TwoReplicasShareTheGlobalLimit) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    const CallLedger::Limits limits{3, 10};
    EXPECT_EQ(fleet.a.reserve("c1", "t1", limits), Reservation::Reserved);
    EXPECT_EQ(fleet.b.reserve("c2", "t2", limits), Reservation::Reserved);
    EXPECT_EQ(fleet.a.reserve("c3", "t3", limits), Reservation::Reserved);
    EXPECT_EQ(fleet.b.reserve("c4", "t4", limits), Reservation::AtCapacity);
    EXPECT_EQ(fleet.a.total().pending, 3);
    EXPECT_EQ(fleet.b.total().pending, 3);
    fleet.a.release("c1");
    EXPECT_EQ(fleet.b.reserve("c4", "t4", limits), Reservation::Reserved);
}

TEST(RedisCallLedger, TwoReplicasShareTheTenantLimitCountingActiveAndPending) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    const CallLedger::Limits limits{10, 2};
    EXPECT_EQ(fleet.a.reserve("c1", "t1", limits), Reservation::Reserved);
    fleet.a.promote("c1");
    EXPECT_EQ(fleet.b.reserve("c2", "t1", limits), Reservation::Reserved);
    EXPECT_EQ(fleet.a.reserve("c3", "t1", limits), Reservation::AtCapacity);
    EXPECT_EQ(fleet.b.reserve("c4", "t2", limits), Reservation::Reserved);
    auto tenants = fleet.b.byTenant();
    EXPECT_EQ(tenants["t1"].active, 1);
    EXPECT_EQ(tenants["t1"].pending, 1);
    EXPECT_EQ(tenants["t2"].pending, 1);
    EXPECT_EQ(fleet.a.total().active, 1);
    EXPECT_EQ(fleet.a.total().pending, 2);
}

TEST(RedisCallLedger, ConcurrentReservesOnTwoReplicasNeverExceedTheLimitAndCountsMatch) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    const CallLedger::Limits limits{25, 8};
    std::atomic<int> reserved{0};
    std::atomic<int> perTenant[4] = {};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            auto& ledger = t % 2 ? fleet.a : fleet.b;
            for (int i = 0; i < 20; ++i) {
                const auto tenant = i % 4;
                if (ledger.reserve("c" + std::to_string(t) + "-" + std::to_string(i), "t" + std::to_string(tenant),
                                   limits) == Reservation::Reserved) {
                    ++reserved;
                    ++perTenant[tenant];
                }
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(reserved.load(), 25); // 160 tries, 4 tenants x 8 > 25: the global limit binds exactly
    for (auto& n : perTenant)
        EXPECT_LE(n.load(), 8);
    EXPECT_EQ(fleet.a.total().inUse(), 25);
    int sum = 0;
    for (const auto& [tenant, counts] : fleet.b.byTenant()) {
        EXPECT_EQ(counts.pending, perTenant[tenant[1] - '0'].load()) << tenant;
        sum += counts.inUse();
    }
    EXPECT_EQ(sum, 25);
}

TEST(RedisCallLedger, SameCallIdOnAnotherReplicaIsDuplicateWhileHeldAndAfterAccept) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    const CallLedger::Limits limits{10, 10};
    EXPECT_EQ(fleet.a.reserve("c1", "t1", limits), Reservation::Reserved);
    EXPECT_EQ(fleet.b.reserve("c1", "t1", limits), Reservation::DuplicateCall);
    EXPECT_TRUE(fleet.b.isKnown("c1"));
    fleet.a.markAccepted("c1");
    fleet.a.release("c1");
    EXPECT_TRUE(fleet.b.isKnown("c1"));
    EXPECT_EQ(fleet.b.reserve("c1", "t1", limits), Reservation::DuplicateCall);
    EXPECT_FALSE(fleet.b.isKnown("c2"));
}

TEST(RedisCallLedger, ReleaseFromTheNonOwnerReturnsTheTenantAndOwnerNamedTheOwner) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    fleet.a.reserve("c1", "t1", {10, 10});
    fleet.a.promote("c1");
    EXPECT_EQ(fleet.b.owner("c1"), "replica-a");
    EXPECT_EQ(fleet.b.release("c1"), "t1");
    EXPECT_EQ(fleet.b.owner("c1"), "");
    EXPECT_EQ(fleet.a.release("c1"), std::nullopt); // the owner's own release, after the bus told it
    EXPECT_EQ(fleet.a.total().inUse(), 0);
    EXPECT_EQ(fleet.a.byTenant()["t1"].inUse(), 0);
}

TEST(RedisCallLedger, PromoteMovesPendingToActiveOnce) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    fleet.a.reserve("c1", "t1", {10, 10});
    fleet.b.promote("c1");
    fleet.a.promote("c1");
    EXPECT_EQ(fleet.a.total().active, 1);
    EXPECT_EQ(fleet.a.total().pending, 0);
    fleet.a.promote("unknown");
    EXPECT_EQ(fleet.a.total().inUse(), 1);
}

TEST(RedisCallLedger, SweepFreesCallsThatNeverStartedOrNeverEnded) {
    ManualClock clock{1000s};
    Fleet fleet(sideband::testing::sharedRedisUrl(), 30s, clock);
    fleet.a.reserve("pending", "t1", {10, 10});
    fleet.b.reserve("active", "t1", {10, 10});
    fleet.b.promote("active");
    clock.advance(59s);
    EXPECT_TRUE(fleet.a.sweep(60s, 4h).empty());
    clock.advance(1s);
    auto swept = fleet.a.sweep(60s, 4h);
    ASSERT_EQ(swept.size(), 1u);
    EXPECT_EQ(swept[0].callId, "pending");
    EXPECT_EQ(swept[0].tenantId, "t1");
    EXPECT_EQ(swept[0].reason, "never_started");
    clock.advance(4h);
    swept = fleet.b.sweep(60s, 4h);
    ASSERT_EQ(swept.size(), 1u);
    EXPECT_EQ(swept[0].callId, "active");
    EXPECT_EQ(swept[0].reason, "never_ended");
    EXPECT_EQ(fleet.a.total().inUse(), 0);
}

TEST(RedisCallLedger, AReplicaThatStopsHeartbeatingLosesItsSlotsAtAnotherReplicasSweep) {
    Fleet fleet(sideband::testing::sharedRedisUrl(), 300ms);
    fleet.a.start();
    fleet.b.start();
    fleet.a.reserve("a1", "t1", {10, 10});
    fleet.a.promote("a1");
    fleet.a.reserve("a2", "t2", {10, 10});
    fleet.b.reserve("b1", "t1", {10, 10});
    // As if replica a were killed with SIGKILL: no more renewals, nothing cleaned up.
    fleet.a.stop();
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(fleet.b.sweep(60s, 4h).empty()); // within the lease: still a's
    std::vector<CallLedger::Swept> swept;
    ASSERT_TRUE(eventually(
        [&] {
            auto more = fleet.b.sweep(60s, 4h);
            swept.insert(swept.end(), more.begin(), more.end());
            return swept.size() >= 2;
        },
        3s));
    std::set<std::string> ids;
    for (const auto& s : swept) {
        EXPECT_EQ(s.reason, "replica_lost");
        ids.insert(s.callId);
    }
    EXPECT_EQ(ids, (std::set<std::string>{"a1", "a2"}));
    EXPECT_EQ(fleet.b.total().inUse(), 1); // b's own call is untouched
    EXPECT_EQ(fleet.b.owner("b1"), "replica-b");
    EXPECT_EQ(fleet.b.byTenant()["t2"].inUse(), 0);
    std::this_thread::sleep_for(400ms); // b keeps renewing: its slot survives its own lease TTL
    EXPECT_TRUE(fleet.b.sweep(60s, 4h).empty());
}

TEST(RedisCallLedger, RedisStoppedRejectsNewCallsWithOneLogLineAndQueuesReleases) {
    RedisServer server;
    LogCapture log;
    Fleet fleet(server.url());
    fleet.a.reserve("c1", "t1", {10, 10});
    fleet.a.reserve("c2", "t1", {10, 10});
    EXPECT_EQ(fleet.a.total().inUse(), 2);
    server.stop();
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(fleet.a.reserve("new" + std::to_string(i), "t1", {10, 10}), Reservation::AtCapacity);
    EXPECT_EQ(fleet.a.release("c1"), "t1"); // named from the replica's own record
    fleet.a.promote("c2");
    // The release and the promote (and an undo for the first refused reserve, which was sent on a
    // pooled connection before the server was seen gone).
    EXPECT_GE(fleet.a.queuedRetries(), 2u);
    EXPECT_EQ(fleet.a.total().inUse(), 2); // the last known counts
    EXPECT_EQ(log.count("redis: unreachable at 127.0.0.1:"), 1);
    EXPECT_EQ(fleet.metrics.value(name::kRedisUp), 0);
    EXPECT_GE(fleet.metrics.value(name::kRedisErrors, {{"operation", "ledger_reserve"}}), 1);
    EXPECT_EQ(fleet.metrics.value(name::kLedgerRetriesQueued), double(fleet.a.queuedRetries()));

    server.start(); // same port, empty (no persistence)
    ASSERT_TRUE(eventually([&] { return fleet.a.reserve("after", "t1", {10, 10}) == Reservation::Reserved; }, 5s));
    EXPECT_EQ(fleet.a.queuedRetries(), 0u);
    EXPECT_EQ(fleet.a.total().inUse(), 1);
    EXPECT_EQ(log.count("redis: reachable again"), 1);
    EXPECT_EQ(log.count("redis: unreachable"), 1);
    EXPECT_EQ(fleet.metrics.value(name::kRedisUp), 1);
}

TEST(RedisCallLedger, QueuedReleasesAreAppliedWhenAFrozenRedisAnswersAgain) {
    RedisServer server;
    Fleet fleet(server.url());
    const CallLedger::Limits limits{3, 10};
    fleet.a.reserve("c1", "t1", limits);
    fleet.a.reserve("c2", "t1", limits);
    fleet.b.reserve("c3", "t2", limits);
    fleet.a.promote("c1");
    server.freeze(); // data kept, nothing answers: every call times out instead of blocking
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(fleet.a.release("c1"), "t1");
    EXPECT_EQ(fleet.a.release("c2"), "t1");
    EXPECT_EQ(fleet.b.reserve("c4", "t2", limits), Reservation::AtCapacity);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
    EXPECT_EQ(fleet.a.queuedRetries(), 2u);
    server.thaw();
    // The next operation (or the heartbeat) replays the list; a write that ran before it timed out
    // is replayed harmlessly (release is idempotent; the refused reserve is undone by its token).
    ASSERT_TRUE(eventually([&] { return fleet.a.replayRetries(); }, 5s));
    ASSERT_TRUE(eventually([&] { return fleet.b.replayRetries(); }, 5s));
    EXPECT_EQ(fleet.b.total().inUse(), 1);
    EXPECT_EQ(fleet.b.byTenant()["t1"].inUse(), 0);
    EXPECT_EQ(fleet.b.reserve("c4", "t2", limits), Reservation::Reserved);
}

TEST(RedisCallLedger, AFullRetryListDropsTheOldestAndCountsIt) {
    RedisServer server;
    Fleet fleet(server.url());
    sideband::metrics::MetricsRegistry metrics;
    sideband::metrics::declareSidebandMetrics(metrics);
    RedisCallLedger small(fleet.redisA, "replica-s", 30s, SystemClock::instance(), &metrics,
                          RedisCallLedger::Options{fleet.prefix, 2});
    server.stop();
    small.release("x1");
    small.release("x2");
    small.release("x3");
    EXPECT_EQ(small.queuedRetries(), 2u);
    EXPECT_EQ(metrics.value(name::kLedgerRetriesDropped, {{"operation", "ledger_release"}}), 1);
}

TEST(RedisCallLedger, ARenamedSlotIsHeldUnderTheNewIdForEveryReplica) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    const CallLedger::Limits limits{2, 2};
    ASSERT_EQ(fleet.a.reserve("provisional", "t1", limits), Reservation::Reserved);
    ASSERT_TRUE(fleet.a.rename("provisional", "rtc_1"));
    EXPECT_FALSE(fleet.b.isKnown("provisional"));
    EXPECT_TRUE(fleet.b.isKnown("rtc_1"));
    EXPECT_EQ(fleet.b.owner("rtc_1"), "replica-a");
    fleet.a.promote("rtc_1");
    EXPECT_EQ(fleet.b.total().active, 1);
    EXPECT_EQ(fleet.b.total().pending, 0);
    EXPECT_EQ(fleet.b.release("rtc_1"), "t1");
    EXPECT_EQ(fleet.a.total().inUse(), 0);
}

TEST(RedisCallLedger, RenameRefusesAMissingSlotAndAKnownTarget) {
    Fleet fleet(sideband::testing::sharedRedisUrl());
    const CallLedger::Limits limits{10, 10};
    EXPECT_FALSE(fleet.a.rename("nothing", "rtc_1"));
    fleet.a.reserve("a", "t1", limits);
    fleet.b.reserve("b", "t1", limits);
    EXPECT_FALSE(fleet.a.rename("a", "b"));
    fleet.b.markAccepted("rtc_2");
    EXPECT_FALSE(fleet.a.rename("a", "rtc_2"));
    EXPECT_EQ(fleet.a.total().pending, 2);
}
