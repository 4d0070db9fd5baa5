// ToolExecutor: bounded pool + one deadline watchdog; `done` exactly once whatever happens; tenants
// share the pool fairly and within bounds; shutdown is bounded.
#include "Eventually.h"
#include "Gate.h"
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
using sideband::testing::Gate;

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

// Jobs that wait at a closed gate until the test opens it (10 s at most). The gate is shared with
// the jobs: a worker detached by shutdown may still be inside one after the test's scope ends.
ToolExecutor::Work waitsAt(std::shared_ptr<Gate> gate) {
    return [gate](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
        gate->pass();
        return ToolExecutor::Result{R"({"released":true})", ToolOutcome::Ok};
    };
}

std::shared_ptr<Gate> closedGate() {
    auto gate = std::make_shared<Gate>();
    gate->close();
    return gate;
}

ToolExecutor::TenantLoad loadOf(const ToolExecutor& executor, const std::string& tenant) {
    for (const auto& load : executor.load())
        if (load.tenant == tenant) return load;
    return {tenant};
}

TEST(ToolExecutor, GivesEachTenantHalfThePoolAndAQueueOf64ByDefault) {
    EXPECT_EQ(ToolExecutor(8).concurrencyPerTenant(), 4u);
    EXPECT_EQ(ToolExecutor(1).concurrencyPerTenant(), 1u);
    EXPECT_EQ(ToolExecutor(8).queuePerTenant(), 64u);
    EXPECT_EQ(ToolExecutor(ToolExecutor::Options{4, 9, 64}).concurrencyPerTenant(), 4u) << "capped at the pool";
}

TEST(ToolExecutor, ATenantWhoseToolsHangDoesNotDelayAnotherTenantsTools) {
    ToolExecutor executor(ToolExecutor::Options{4, 2, 64});
    auto gate = closedGate();
    Deliveries a, b;
    for (int i = 0; i < 8; ++i)
        executor.submit("a", 30s, waitsAt(gate), a.sink());
    ASSERT_TRUE(eventually([&] { return loadOf(executor, "a").running == 2; }));
    executor.submit("b", 30s, returns(R"({"b":1})"), b.sink());
    ASSERT_TRUE(b.waitFor(1)) << "b waited behind a's hung tools";
    EXPECT_EQ(b.results()[0].json, R"({"b":1})");
    EXPECT_EQ(a.count(), 0u) << "a's tools still hang";
    EXPECT_EQ(loadOf(executor, "a").running, 2u) << "a holds only its share of the pool";
    EXPECT_EQ(loadOf(executor, "a").queued, 6u);
    gate->open();
    EXPECT_TRUE(a.waitFor(8));
}

TEST(ToolExecutor, RefusesAJobOverTheTenantsQueueLimitAtOnceAndCountsIt) {
    ToolExecutor executor(ToolExecutor::Options{2, 1, 2});
    auto gate = closedGate();
    Deliveries a, b;
    executor.submit("a", 30s, waitsAt(gate), a.sink());
    executor.submit("a", 30s, returns("{}"), a.sink());
    executor.submit("a", 30s, returns("{}"), a.sink());
    executor.submit("a", 30s, returns("{}"), a.sink()); // 1 running (or about to) + 2 waiting: full
    ASSERT_EQ(a.count(), 1u) << "answered on the submitting thread, before submit returned";
    const auto refused = a.results()[0];
    EXPECT_EQ(refused.json, R"({"error":"tool queue full for this tenant; try again shortly"})");
    EXPECT_EQ(refused.outcome, ToolOutcome::Error);
    EXPECT_TRUE(ToolExecutor::isRefusal(refused));
    EXPECT_EQ(loadOf(executor, "a").refused, 1u);
    executor.submit("b", 30s, returns("{}"), b.sink());
    ASSERT_TRUE(b.waitFor(1));
    EXPECT_FALSE(ToolExecutor::isRefusal(b.results()[0])) << "another tenant's queue is its own";
    EXPECT_EQ(loadOf(executor, "b").refused, 0u);
    gate->open();
    EXPECT_TRUE(a.waitFor(4));
}

TEST(ToolExecutor, AQueuedJobWhoseDeadlinePassesTimesOutAndLeavesTheQueue) {
    ToolExecutor executor(ToolExecutor::Options{2, 1, 64});
    auto gate = closedGate();
    Deliveries held, queued;
    executor.submit("a", 30s, waitsAt(gate), held.sink());
    ASSERT_TRUE(gate->waitUntilHeld());
    std::atomic<bool> ran{false};
    executor.submit(
        "a", 100ms,
        [&](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
            ran = true;
            return ToolExecutor::Result{"{}", ToolOutcome::Ok};
        },
        queued.sink());
    ASSERT_TRUE(queued.waitFor(1));
    EXPECT_EQ(queued.results()[0].outcome, ToolOutcome::Timeout);
    EXPECT_EQ(queued.results()[0].json, R"({"error":"tool timed out after 100 ms"})");
    EXPECT_EQ(loadOf(executor, "a").queued, 0u);
    gate->open();
    ASSERT_TRUE(held.waitFor(1));
    EXPECT_FALSE(ran);
}

TEST(ToolExecutor, PicksTheNextJobRoundRobinAcrossTenants) {
    std::mutex mutex;
    std::vector<std::string> order;
    auto records = [&](std::string name) -> ToolExecutor::Work {
        return [&, name](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
            std::lock_guard lock(mutex);
            order.push_back(name);
            return ToolExecutor::Result{"{}", ToolOutcome::Ok};
        };
    };
    ToolExecutor executor(ToolExecutor::Options{1, 1, 64});
    auto gate = closedGate();
    Deliveries d;
    executor.submit("x", 30s, waitsAt(gate), d.sink()); // holds the only worker while the queues fill
    ASSERT_TRUE(gate->waitUntilHeld());
    for (const char* name : {"a1", "a2", "a3"})
        executor.submit("a", 30s, records(name), d.sink());
    for (const char* name : {"b1", "b2"})
        executor.submit("b", 30s, records(name), d.sink());
    executor.submit("c", 30s, records("c1"), d.sink());
    gate->open();
    ASSERT_TRUE(d.waitFor(7));
    std::lock_guard lock(mutex);
    EXPECT_EQ(order, (std::vector<std::string>{"a1", "b1", "c1", "a2", "b2", "a3"}));
}

TEST(ToolExecutor, ATenantsOwnLowerConcurrencyHoldsItsJobsBack) {
    ToolExecutor executor(ToolExecutor::Options{4, 2, 64});
    executor.setTenantConcurrency("a", 1);
    auto gate = closedGate();
    Deliveries d;
    executor.submit("a", 30s, waitsAt(gate), d.sink());
    executor.submit("a", 30s, waitsAt(gate), d.sink());
    ASSERT_TRUE(gate->waitUntilHeld());
    std::this_thread::sleep_for(50ms); // time for a free worker to (wrongly) start the second
    EXPECT_EQ(loadOf(executor, "a").running, 1u);
    EXPECT_EQ(loadOf(executor, "a").queued, 1u);
    executor.setTenantConcurrency("a", 10); // never above the per-tenant share: 2
    EXPECT_TRUE(eventually([&] { return loadOf(executor, "a").running == 2; }));
    gate->open();
    EXPECT_TRUE(d.waitFor(2));
}

TEST(ToolExecutor, TheUntenantedGroupMayUseEveryWorkerWithoutAQueueLimit) {
    ToolExecutor executor(ToolExecutor::Options{2, 1, 0});
    auto gate = closedGate();
    Deliveries d;
    for (int i = 0; i < 3; ++i)
        executor.submit(30s, waitsAt(gate), d.sink());
    EXPECT_TRUE(eventually([&] { return loadOf(executor, "").running == 2; }));
    EXPECT_EQ(d.count(), 0u) << "nothing refused";
    gate->open();
    EXPECT_TRUE(d.waitFor(3));
}

TEST(ToolExecutor, ShutdownReturnsWithinItsGraceAndCancelsAHungTool) {
    auto gate = closedGate();
    auto seen = std::make_shared<ToolExecutor::Cancelled>();
    Deliveries d;
    {
        ToolExecutor executor(ToolExecutor::Options{2, 1, 64});
        executor.submit(
            "a", 30s,
            [gate, seen](const ToolExecutor::Cancelled& cancelled, ToolExecutor::Clock::time_point) {
                *seen = cancelled;
                gate->pass(); // ignores cancellation
                return ToolExecutor::Result{R"({"late":true})", ToolOutcome::Ok};
            },
            d.sink());
        ASSERT_TRUE(gate->waitUntilHeld());
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(executor.shutdown(200ms), 1u);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
        EXPECT_TRUE(**seen) << "the hung tool was told to cancel";
        ASSERT_EQ(d.count(), 1u) << "answered before shutdown returned";
        EXPECT_EQ(d.results()[0].json, R"({"error":"host is shutting down"})");
    }             // the destructor does not wait again
    gate->open(); // the detached worker returns now; its late result is dropped
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(d.count(), 1u);
}

TEST(ToolExecutor, ShutdownDeliversWhatACooperativeToolReturnsWithinTheGrace) {
    ToolExecutor executor(ToolExecutor::Options{2, 1, 64});
    Deliveries d;
    std::atomic<bool> running{false};
    executor.submit(
        "a", 30s,
        [&](const ToolExecutor::Cancelled& cancelled, ToolExecutor::Clock::time_point) {
            running = true;
            while (!*cancelled)
                std::this_thread::sleep_for(1ms);
            return ToolExecutor::Result{R"({"partial":true})", ToolOutcome::Ok};
        },
        d.sink());
    ASSERT_TRUE(eventually([&] { return running.load(); }));
    EXPECT_EQ(executor.shutdown(5s), 0u);
    ASSERT_EQ(d.count(), 1u);
    EXPECT_EQ(d.results()[0].json, R"({"partial":true})");
}

TEST(ToolExecutor, RefusesWorkAfterShutdown) {
    ToolExecutor executor(1);
    executor.shutdown(1s);
    Deliveries d;
    executor.submit("a", 1s, returns("{}"), d.sink());
    ASSERT_EQ(d.count(), 1u);
    EXPECT_EQ(d.results()[0].json, R"({"error":"host is shutting down"})");
}

} // namespace
