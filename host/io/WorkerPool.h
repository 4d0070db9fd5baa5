#pragma once

#include <Poco/NotificationQueue.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sideband::io {

// A fixed set of threads serving a bounded queue: the work that may block (a REST call to OpenAI,
// a store read, a plugin) runs here, never on a loop. trySubmit() refuses rather than queueing
// without end, so the caller can answer "busy" at once.
class WorkerPool {
public:
    // `onThreadStart` runs first on each thread (e.g. to lower its CPU priority).
    WorkerPool(std::string name, int threads, std::size_t queueLimit, std::function<void()> onThreadStart = nullptr);
    ~WorkerPool(); // runs what is queued, then joins

    // False when every thread is busy and `queueLimit` tasks already wait (none was taken).
    bool trySubmit(std::function<void()> task);
    void stop();

    std::size_t queued() const { return queued_.load(std::memory_order_relaxed); }

private:
    void serve();

    std::string name_;
    std::size_t queueLimit_;
    std::size_t threadCount_; // fixed at construction: trySubmit() reads it while stop() clears threads_
    Poco::NotificationQueue queue_;
    std::atomic<std::size_t> accepted_{0}; // taken and not yet finished: running or waiting
    std::atomic<std::size_t> queued_{0};
    std::vector<std::thread> threads_;
};

} // namespace sideband::io
