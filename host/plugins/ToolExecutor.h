#pragma once

#include "sideband/sdk/loader/PluginLibrary.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sideband::plugins {

// Runs plugin code off the network I/O threads: a fixed pool of worker threads (thousands of calls
// share it) and one watchdog thread that enforces every job's deadline - no thread per call or per
// tool call. A tool that overruns its deadline keeps its worker until it returns (C++ code cannot be
// stopped from outside), but the model gets its timeout error on time, the job's cancellation flag is
// set for cooperative tools, and the late result is dropped.
//
// Tenants. Jobs are queued per tenant; a tenant has at most `concurrencyPerTenant` jobs on workers
// (overrunning ones included: they still hold their worker) and at most `queuePerTenant` more
// waiting; beyond that a job is refused at once. Free workers take the next job round-robin across
// the tenants that have one waiting and a free share, so a tenant whose tools hang holds at most its
// share of the pool and never delays another tenant's tools.
class ToolExecutor {
public:
    using Clock = std::chrono::steady_clock;
    using Cancelled = std::shared_ptr<const std::atomic<bool>>;
    using Result = sdk::loader::ToolOutput;
    using Work = std::function<Result(const Cancelled& cancelled, Clock::time_point deadline)>;
    // Called exactly once: on a worker thread (result), on the watchdog thread (timeout), on the
    // submitting thread (refused, or shutting down) or on the thread calling shutdown(). Keep it short
    // (hand the output to the session and return).
    using Done = std::function<void(const Result& result, std::chrono::nanoseconds elapsed)>;

    struct Options {
        std::size_t threads = 8;
        std::size_t concurrencyPerTenant = 0; // 0: half the threads, at least 1
        std::size_t queuePerTenant = 64;
    };
    static constexpr std::chrono::milliseconds kDefaultShutdownGrace{5000};

    explicit ToolExecutor(std::size_t threads);
    explicit ToolExecutor(const Options& options);
    ~ToolExecutor(); // shutdown(kDefaultShutdownGrace)
    ToolExecutor(const ToolExecutor&) = delete;
    ToolExecutor& operator=(const ToolExecutor&) = delete;

    // The deadline counts from now, queueing included: the model is waiting either way. A job whose
    // deadline passes while queued gets its timeout and leaves the queue without ever starting.
    void submit(const std::string& tenant, std::chrono::milliseconds timeout, Work work, Done done);
    // Tenant "": one group that may use every worker, with no queue limit (the plugin runner process
    // serves a single tenant; the host submits per tenant).
    void submit(std::chrono::milliseconds timeout, Work work, Done done);
    // Fire-and-forget work without a deadline, in group "". Exceptions are contained.
    void post(std::function<void()> task);

    // A tenant's own lower share (settings "tool_concurrency"): clamped to 1..concurrencyPerTenant().
    void setTenantConcurrency(const std::string& tenant, std::size_t concurrency);

    // Refuses new jobs, settles queued ones with a shutdown error, sets every running job's
    // cancellation flag and waits up to `grace` for them. Jobs still running then are answered with
    // the shutdown error and their workers detached: a worker holds only the shared_ptr-owned pool
    // state and its job, so it may outlive this object safely. Returns how many were abandoned.
    // Idempotent; the destructor calls it.
    std::size_t shutdown(std::chrono::milliseconds grace = kDefaultShutdownGrace);

    struct TenantLoad {
        std::string tenant;
        std::size_t running = 0; // on a worker, overrunning jobs included
        std::size_t queued = 0;
        std::uint64_t refused = 0; // since start
    };
    // One entry per tenant that has submitted since start (metrics gauges read it at scrape time).
    std::vector<TenantLoad> load() const;

    // True for the output a refused job is answered with (its outcome is ToolOutcome::Error: the SDK's
    // enum has no "refused"; the host labels it by this).
    static bool isRefusal(const Result& result);
    // That output, for a bound kept elsewhere (an isolated tenant's runner).
    static Result refusal();

    std::size_t threads() const { return threadCount_; }
    std::size_t concurrencyPerTenant() const { return concurrencyPerTenant_; }
    std::size_t queuePerTenant() const { return queuePerTenant_; }

private:
    struct State;
    std::shared_ptr<State> state_;
    std::size_t threadCount_;
    std::size_t concurrencyPerTenant_;
    std::size_t queuePerTenant_;
    std::vector<std::thread> workers_;
    std::thread watchdog_;
    std::atomic<bool> shutDown_{false};
};

} // namespace sideband::plugins
