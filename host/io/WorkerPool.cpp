#include "io/WorkerPool.h"

#include <spdlog/spdlog.h>

namespace sideband::io {
namespace {

class Task final : public Poco::Notification {
public:
    explicit Task(std::function<void()> run) : run(std::move(run)) {}
    std::function<void()> run;
};

} // namespace

WorkerPool::WorkerPool(std::string name, int threads, std::size_t queueLimit, std::function<void()> onThreadStart)
    : name_(std::move(name)), queueLimit_(queueLimit), threadCount_(static_cast<std::size_t>(std::max(1, threads))) {
    for (std::size_t i = 0; i < threadCount_; ++i)
        threads_.emplace_back([this, onThreadStart] {
            if (onThreadStart) onThreadStart();
            serve();
        });
}

WorkerPool::~WorkerPool() {
    stop();
}

bool WorkerPool::trySubmit(std::function<void()> task) {
    // Counted before it is queued so that concurrent submitters cannot overshoot the limit: a task
    // is taken while a thread is free or fewer than `queueLimit` wait.
    const auto capacity = threadCount_ + queueLimit_;
    if (accepted_.fetch_add(1, std::memory_order_relaxed) >= capacity) {
        accepted_.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    queued_.fetch_add(1, std::memory_order_relaxed);
    queue_.enqueueNotification(new Task(std::move(task)));
    return true;
}

void WorkerPool::stop() {
    if (threads_.empty()) return;
    for (std::size_t i = 0; i < threads_.size(); ++i)
        queue_.enqueueNotification(new Task(nullptr)); // after everything queued before it
    for (auto& thread : threads_)
        thread.join();
    threads_.clear();
}

void WorkerPool::serve() {
    for (;;) {
        Poco::AutoPtr<Poco::Notification> notification(queue_.waitDequeueNotification());
        auto& task = static_cast<Task&>(*notification);
        if (!task.run) return;
        queued_.fetch_sub(1, std::memory_order_relaxed);
        try {
            task.run();
        } catch (const std::exception& e) {
            spdlog::error("{}: task failed: {}", name_, e.what());
        }
        accepted_.fetch_sub(1, std::memory_order_relaxed);
    }
}

} // namespace sideband::io
