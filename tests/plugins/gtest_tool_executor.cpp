// ToolExecutor: bounded pool + one deadline watchdog; `done` exactly once whatever happens.
#include "Eventually.h"
#include "plugins/ToolExecutor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace sideband::plugins;
using sideband::sdk::loader::ToolOutcome;
using namespace std::chrono_literals;
using sideband::testing::eventually;

namespace {

// Results arrive on worker and watchdog threads, possibly while the test reads: read a copy.
class Deliveries {
public:
    ToolExecutor::Done sink() {
        return [this](const ToolExecutor::Result& r, std::chrono::nanoseconds) {
            std::lock_guard lock(mutex_);
            results_.push_back(r);
            changed_.notify_all();
        };
    }
    bool waitFor(std::size_t n, std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return results_.size();
    }
    std::vector<ToolExecutor::Result> results() {
        std::lock_guard lock(mutex_);
        return results_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<ToolExecutor::Result> results_;
};

ToolExecutor::Work returns(std::string json, std::chrono::milliseconds sleep = 0ms) {
    return [json, sleep](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
        std::this_thread::sleep_for(sleep);
        return ToolExecutor::Result{json, ToolOutcome::Ok};
    };
}

TEST(ToolExecutor, DeliversEachResultExactlyOnceOffTheCallersThread) {
    ToolExecutor executor(2);
    Deliveries d;
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> ranElsewhere{true};
    for (int i = 0; i < 50; ++i)
        executor.submit(
            1s,
            [&, i](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
                if (std::this_thread::get_id() == caller) ranElsewhere = false;
                return ToolExecutor::Result{std::to_string(i), ToolOutcome::Ok};
            },
            d.sink());
    ASSERT_TRUE(d.waitFor(50));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(d.count(), 50u);
    EXPECT_TRUE(ranElsewhere);
}

TEST(ToolExecutor, TimesOutAtTheDeadlineSetsCancellationAndDropsTheLateResult) {
    ToolExecutor executor(1);
    Deliveries d;
    std::atomic<bool> sawCancel{false};
    const auto start = std::chrono::steady_clock::now();
    executor.submit(
        100ms,
        [&](const ToolExecutor::Cancelled& cancelled, ToolExecutor::Clock::time_point) {
            while (!*cancelled)
                std::this_thread::sleep_for(1ms);
            sawCancel = true;
            return ToolExecutor::Result{"{\"late\":true}", ToolOutcome::Ok};
        },
        d.sink());
    ASSERT_TRUE(d.waitFor(1));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 100ms);
    EXPECT_LT(elapsed, 1s);
    // The tool sees the flag only after the timeout was delivered (cancelWith settles, then cancels).
    EXPECT_TRUE(eventually([&] { return sawCancel.load(); }));
    std::this_thread::sleep_for(50ms); // the late result comes back now, and must be dropped
    const auto results = d.results();
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, ToolOutcome::Timeout);
    EXPECT_EQ(results[0].json, R"({"error":"tool timed out after 100 ms"})");
}

TEST(ToolExecutor, TimesOutJobsStillQueuedBehindABusyPool) {
    ToolExecutor executor(1);
    Deliveries d;
    executor.submit(5s, returns("{}", 1000ms), d.sink());
    std::atomic<bool> queuedRan{false};
    executor.submit(
        100ms,
        [&](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
            queuedRan = true;
            return ToolExecutor::Result{"{}", ToolOutcome::Ok};
        },
        d.sink());
    ASSERT_TRUE(d.waitFor(1, 800ms)) << "the queued job's deadline does not wait for a free worker";
    EXPECT_EQ(d.results()[0].outcome, ToolOutcome::Timeout); // the busy job's result is added meanwhile
    ASSERT_TRUE(d.waitFor(2));
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(queuedRan) << "a job whose deadline passed in the queue is never started";
}

TEST(ToolExecutor, AnswersQueuedJobsWhenShutDown) {
    Deliveries d;
    {
        ToolExecutor executor(1);
        std::atomic<bool> running{false};
        // Holds the only worker until the shutdown has answered the three queued jobs, so none of
        // them can be started by it, however slowly this test runs.
        executor.submit(
            5s,
            [&](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
                running = true;
                d.waitFor(3);
                return ToolExecutor::Result{"{}", ToolOutcome::Ok};
            },
            d.sink());
        for (int i = 0; i < 3; ++i)
            executor.submit(5s, returns("{}"), d.sink());
        ASSERT_TRUE(eventually([&] { return running.load(); })); // out of the queue: it is not answered as queued
    }
    ASSERT_EQ(d.count(), 4u);
    int shutdowns = 0;
    for (auto& r : d.results())
        shutdowns += r.json == R"({"error":"host is shutting down"})";
    EXPECT_EQ(shutdowns, 3);
}

TEST(ToolExecutor, ContainsACallbackThatThrows) {
    ToolExecutor executor(1);
    Deliveries d;
    executor.submit(1s, returns("{}"), [](const ToolExecutor::Result&, std::chrono::nanoseconds) {
        throw std::runtime_error("session gone");
    });
    executor.submit(1s, returns("{}"), d.sink());
    EXPECT_TRUE(d.waitFor(1));
}

} // namespace
