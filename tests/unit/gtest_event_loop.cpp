// The event loop's own promises: a post from any thread wakes it at once and runs in order, timers
// run in deadline order unless cancelled, and stop() runs what was posted before it.
#include "io/EventLoop.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace sideband;
using namespace std::chrono_literals;

namespace {

// Waits for a task posted to `loop` to have run; false after 10 s (an idle loop sleeps without a
// timeout, so a lost wake-up is a hang, not a delay).
bool runsOn(
    io::EventLoop& loop, std::function<void()> task = [] {}) {
    std::promise<void> ran;
    auto done = ran.get_future();
    loop.post([&] {
        task();
        ran.set_value();
    });
    return done.wait_for(10s) == std::future_status::ready;
}

} // namespace

TEST(EventLoop, EveryPostWakesTheLoopEvenWhenPostsRace) {
    io::EventLoop loop("test");
    loop.start();
    // Two threads posting back to back: each post races the loop taking the previous batch.
    auto other = std::async(std::launch::async, [&] {
        for (int i = 0; i < 5000; ++i)
            if (!runsOn(loop)) return false;
        return true;
    });
    for (int i = 0; i < 5000; ++i)
        ASSERT_TRUE(runsOn(loop)) << "post " << i << " never ran";
    EXPECT_TRUE(other.get());
}

TEST(EventLoop, TasksFromOneThreadRunInTheOrderPosted) {
    io::EventLoop loop("test");
    loop.start();
    std::vector<int> seen;
    for (int i = 0; i < 1000; ++i)
        loop.post([&seen, i] { seen.push_back(i); });
    ASSERT_TRUE(runsOn(loop));
    ASSERT_EQ(seen.size(), 1000u);
    for (int i = 0; i < 1000; ++i)
        EXPECT_EQ(seen[i], i);
}

TEST(EventLoop, TimersRunInDeadlineOrderAndACancelledOneNever) {
    io::EventLoop loop("test");
    loop.start();
    std::mutex mutex;
    std::vector<std::string> fired;
    auto record = [&](std::string name) {
        return [&, name] {
            std::lock_guard lock(mutex);
            fired.push_back(name);
        };
    };
    ASSERT_TRUE(runsOn(loop, [&] {
        loop.runAfter(30ms, record("third"));
        loop.runAfter(10ms, record("first"));
        const auto cancelled = loop.runAfter(15ms, record("cancelled"));
        loop.runAfter(20ms, record("second"));
        loop.cancel(cancelled);
    }));
    for (int i = 0; i < 1000; ++i) {
        {
            std::lock_guard lock(mutex);
            if (fired.size() >= 3) break;
        }
        std::this_thread::sleep_for(10ms);
    }
    std::this_thread::sleep_for(50ms);
    std::lock_guard lock(mutex);
    EXPECT_EQ(fired, (std::vector<std::string>{"first", "second", "third"}));
}

TEST(EventLoop, StopRunsWhatWasPostedBeforeIt) {
    io::EventLoop loop("test");
    loop.start();
    bool ran = false;
    loop.post([&] { ran = true; });
    loop.stop();
    EXPECT_TRUE(ran);
}

namespace {

// Observations above `seconds` (a bucket bound), from a snapshot's per-bucket counts.
std::uint64_t observedAbove(const io::DurationHistogram::Snapshot& snapshot, double seconds) {
    std::uint64_t atOrBelow = 0;
    for (std::size_t i = 0; i < io::DurationHistogram::kBoundsSeconds.size(); ++i)
        if (io::DurationHistogram::kBoundsSeconds[i] <= seconds) atOrBelow += snapshot.buckets[i];
    return snapshot.count - atOrBelow;
}

} // namespace

TEST(EventLoop, AnIterationThatBlocksItsThreadIsTimedAboveTheBoundsItOverran) {
    io::EventLoop loop("test");
    loop.start();
    ASSERT_TRUE(runsOn(loop, [] { std::this_thread::sleep_for(30ms); }));
    loop.stop(); // the iteration is recorded after its tasks; stop() joins the thread
    const auto iterations = loop.timings().iteration.snapshot();
    EXPECT_GE(observedAbove(iterations, 0.025), 1u);
    EXPECT_GE(iterations.sumSeconds, 0.030);
    EXPECT_EQ(loop.timings().timerDelay.snapshot().count, 0u) << "no timer was ever due";
}

TEST(EventLoop, ATimerDueDuringABusyIterationIsTimedLate) {
    io::EventLoop loop("test");
    loop.start();
    std::promise<void> fired;
    ASSERT_TRUE(runsOn(loop, [&] {
        loop.runAfter(1ms, [&] { fired.set_value(); });
        std::this_thread::sleep_for(30ms); // the timer falls due while this iteration holds the thread
    }));
    ASSERT_EQ(fired.get_future().wait_for(10s), std::future_status::ready);
    loop.stop();
    const auto delays = loop.timings().timerDelay.snapshot();
    EXPECT_EQ(delays.count, 1u);
    EXPECT_EQ(observedAbove(delays, 0.025), 1u) << "due 1 ms after the iteration began, run after its 30 ms";
}
