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
bool runsOn(io::EventLoop& loop, std::function<void()> task = [] {}) {
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
