#pragma once

#include "sideband/sdk/loader/PluginLibrary.h"

#include <atomic>
#include <chrono>
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
class ToolExecutor {
public:
    using Clock = std::chrono::steady_clock;
    using Cancelled = std::shared_ptr<const std::atomic<bool>>;
    using Result = sdk::loader::ToolOutput;
    using Work = std::function<Result(const Cancelled& cancelled, Clock::time_point deadline)>;
    // Called exactly once, on a worker thread (result) or on the watchdog thread (timeout): keep it
    // short (hand the output to the session and return).
    using Done = std::function<void(const Result& result, std::chrono::nanoseconds elapsed)>;

    explicit ToolExecutor(std::size_t threads);
    ~ToolExecutor(); // settles queued jobs with a shutdown error, waits for running ones
    ToolExecutor(const ToolExecutor&) = delete;
    ToolExecutor& operator=(const ToolExecutor&) = delete;

    // The deadline counts from now, queueing included: the model is waiting either way.
    void submit(std::chrono::milliseconds timeout, Work work, Done done);
    // Fire-and-forget work without a deadline (call hooks). Exceptions are contained.
    void post(std::function<void()> task);

    std::size_t threads() const { return threadCount_; }

private:
    struct State;
    std::shared_ptr<State> state_;
    std::size_t threadCount_;
    std::vector<std::thread> workers_;
    std::thread watchdog_;
};

} // namespace sideband::plugins
