#include "calls/CallLedger.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using namespace std::chrono_literals;
using sideband::ManualClock;
using sideband::calls::CallLedger;
using sideband::calls::InMemoryCallLedger;
using Reservation = CallLedger::Reservation;

TEST(CallLedger, ReservationHoldsAPendingSlot) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    EXPECT_EQ(ledger.reserve("c1", "t1", {10, 10}), Reservation::Reserved);
    EXPECT_EQ(ledger.total().pending, 1);
    EXPECT_EQ(ledger.byTenant()["t1"].pending, 1);
}

TEST(CallLedger, RejectsWhenTenantLimitReachedCountingActiveAndPending) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    ledger.reserve("c1", "t1", {10, 2});
    ledger.promote("c1");
    ledger.reserve("c2", "t1", {10, 2});
    EXPECT_EQ(ledger.reserve("c3", "t1", {10, 2}), Reservation::AtCapacity);
    EXPECT_EQ(ledger.reserve("c4", "t2", {10, 2}), Reservation::Reserved);
}

TEST(CallLedger, RejectsWhenGlobalLimitReached) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    ledger.reserve("c1", "t1", {2, 10});
    ledger.reserve("c2", "t2", {2, 10});
    EXPECT_EQ(ledger.reserve("c3", "t3", {2, 10}), Reservation::AtCapacity);
}

TEST(CallLedger, SameCallIdIsDuplicateWhilePendingAndAfterAccept) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    ledger.reserve("c1", "t1", {10, 10});
    EXPECT_EQ(ledger.reserve("c1", "t1", {10, 10}), Reservation::DuplicateCall);
    ledger.markAccepted("c1");
    ledger.release("c1");
    EXPECT_TRUE(ledger.isKnown("c1"));
    EXPECT_EQ(ledger.reserve("c1", "t1", {10, 10}), Reservation::DuplicateCall);
}

TEST(CallLedger, AcceptedIdsArePrunedAfterAnHour) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    ledger.reserve("c1", "t1", {10, 10});
    ledger.markAccepted("c1");
    ledger.release("c1");
    clock.advance(1h);
    ledger.sweep(60s, 4h);
    EXPECT_FALSE(ledger.isKnown("c1"));
}

TEST(CallLedger, ReleaseFreesPendingOrActiveAndIsIdempotent) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    ledger.reserve("c1", "t1", {10, 10});
    ledger.reserve("c2", "t1", {10, 10});
    ledger.promote("c2");
    EXPECT_EQ(ledger.release("c1"), "t1");
    EXPECT_EQ(ledger.release("c2"), "t1");
    EXPECT_EQ(ledger.release("c2"), std::nullopt);
    EXPECT_EQ(ledger.total().inUse(), 0);
    EXPECT_EQ(ledger.byTenant()["t1"].inUse(), 0);
}

TEST(CallLedger, SweeperFreesCallsThatNeverStartedOrNeverEnded) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    ledger.reserve("pending", "t1", {10, 10});
    ledger.reserve("active", "t1", {10, 10});
    ledger.promote("active");
    clock.advance(61s);
    auto swept = ledger.sweep(60s, 4h);
    ASSERT_EQ(swept.size(), 1u);
    EXPECT_EQ(swept[0].callId, "pending");
    EXPECT_EQ(swept[0].reason, "never_started");
    clock.advance(4h);
    swept = ledger.sweep(60s, 4h);
    ASSERT_EQ(swept.size(), 1u);
    EXPECT_EQ(swept[0].reason, "never_ended");
    EXPECT_EQ(ledger.total().inUse(), 0);
}

TEST(CallLedger, ConcurrentReservationsNeverExceedTheLimit) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    std::atomic<int> reserved{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i)
                if (ledger.reserve("c" + std::to_string(t * 100 + i), "t1", {50, 1000}) == Reservation::Reserved)
                    ++reserved;
        });
    }
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(reserved, 50);
    EXPECT_EQ(ledger.total().pending, 50);
}

TEST(CallLedger, ARenamedSlotKeepsItsStateAndCountsUnderTheNewId) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    ledger.reserve("provisional", "t1", {10, 10});
    ASSERT_TRUE(ledger.rename("provisional", "rtc_1"));
    EXPECT_FALSE(ledger.isKnown("provisional"));
    EXPECT_TRUE(ledger.isKnown("rtc_1"));
    EXPECT_EQ(ledger.total().pending, 1);
    ledger.promote("rtc_1");
    EXPECT_EQ(ledger.byTenant()["t1"].active, 1);
    EXPECT_EQ(ledger.release("rtc_1"), "t1");
    EXPECT_EQ(ledger.total().inUse(), 0);
}

TEST(CallLedger, RenameRefusesAMissingSlotAndAKnownTarget) {
    ManualClock clock{1000s};
    InMemoryCallLedger ledger(clock);
    EXPECT_FALSE(ledger.rename("nothing", "rtc_1"));
    ledger.reserve("a", "t1", {10, 10});
    ledger.reserve("b", "t1", {10, 10});
    EXPECT_FALSE(ledger.rename("a", "b"));
    ledger.markAccepted("rtc_2");
    EXPECT_FALSE(ledger.rename("a", "rtc_2"));
    EXPECT_EQ(ledger.total().pending, 2);
}
