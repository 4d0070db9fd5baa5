#include "plugins/ToolExecutor.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <unordered_set>

namespace sideband::plugins {
namespace {

struct Job {
    ToolExecutor::Work work;
    ToolExecutor::Done done;
    std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
    std::atomic<bool> settled{false};
    ToolExecutor::Clock::time_point start;
    ToolExecutor::Clock::time_point deadline;

    // Whoever settles first (worker, watchdog, shutdown) delivers; everyone else drops their result.
    void settle(const ToolExecutor::Result& result) {
        if (!settled.exchange(true)) deliver(result);
    }
    // Claims the job, then tells the tool to stop. In that order: a cooperative tool that returns as
    // soon as it sees the flag must find the job already settled, or its late result would win.
    void cancelWith(const ToolExecutor::Result& result) {
        if (settled.exchange(true)) return;
        cancelled->store(true);
        deliver(result);
    }

private:
    void deliver(const ToolExecutor::Result& result) {
        auto callback = std::move(done);
        try {
            callback(result, ToolExecutor::Clock::now() - start);
        } catch (const std::exception& e) {
            spdlog::error("tool result callback threw: {}", e.what());
        } catch (...) {
            spdlog::error("tool result callback threw");
        }
    }
};

struct Deadline {
    ToolExecutor::Clock::time_point at;
    std::weak_ptr<Job> job;
    std::chrono::milliseconds timeout;
    bool operator>(const Deadline& other) const { return at > other.at; }
};

} // namespace

struct ToolExecutor::State {
    std::mutex mutex;
    std::condition_variable workAvailable;
    std::condition_variable deadlineChanged;
    std::deque<std::function<void()>> queue;
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines;
    std::unordered_set<std::shared_ptr<Job>> queuedJobs; // for settling at shutdown
    bool stopping = false;

    void work() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock lock(mutex);
                workAvailable.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty()) return;
                task = std::move(queue.front());
                queue.pop_front();
            }
            try {
                task();
            } catch (const std::exception& e) {
                spdlog::error("plugin task threw: {}", e.what());
            } catch (...) {
                spdlog::error("plugin task threw");
            }
        }
    }

    void watch() {
        std::unique_lock lock(mutex);
        while (!stopping) {
            if (deadlines.empty()) {
                deadlineChanged.wait(lock);
                continue;
            }
            auto next = deadlines.top();
            if (Clock::now() < next.at) {
                deadlineChanged.wait_until(lock, next.at);
                continue;
            }
            deadlines.pop();
            auto job = next.job.lock();
            if (!job || job->settled) continue;
            lock.unlock();
            job->cancelWith(
                {sdk::loader::errorOutput("tool timed out after " + std::to_string(next.timeout.count()) + " ms"),
                 sdk::loader::ToolOutcome::Timeout});
            job.reset();
            lock.lock();
        }
    }
};

ToolExecutor::ToolExecutor(std::size_t threads)
    : state_(std::make_shared<State>()), threadCount_(threads ? threads : 1) {
    for (std::size_t i = 0; i < threadCount_; ++i)
        workers_.emplace_back([state = state_] { state->work(); });
    watchdog_ = std::thread([state = state_] { state->watch(); });
}

ToolExecutor::~ToolExecutor() {
    std::deque<std::function<void()>> abandoned;
    std::unordered_set<std::shared_ptr<Job>> queued;
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
        abandoned.swap(state_->queue);
        queued.swap(state_->queuedJobs);
        while (!state_->deadlines.empty())
            state_->deadlines.pop();
    }
    state_->workAvailable.notify_all();
    state_->deadlineChanged.notify_all();
    // Queued jobs are answered, never silently dropped: `done` is called exactly once.
    for (auto& job : queued) {
        job->cancelWith({sdk::loader::errorOutput("host is shutting down"), sdk::loader::ToolOutcome::Error});
    }
    queued.clear();
    abandoned.clear();
    auto finish = [](std::thread& t) {
        // The last owner may be plugin work running on this very thread (a job releasing a call's tools).
        if (t.get_id() == std::this_thread::get_id())
            t.detach();
        else if (t.joinable())
            t.join();
    };
    for (auto& worker : workers_)
        finish(worker);
    finish(watchdog_);
}

void ToolExecutor::submit(std::chrono::milliseconds timeout, Work work, Done done) {
    auto job = std::make_shared<Job>();
    job->work = std::move(work);
    job->done = std::move(done);
    job->start = Clock::now();
    job->deadline = job->start + timeout;
    {
        std::lock_guard lock(state_->mutex);
        if (!state_->stopping) {
            state_->queuedJobs.insert(job);
            state_->queue.emplace_back([state = std::weak_ptr<State>(state_), job] {
                if (auto s = state.lock()) {
                    std::lock_guard lock(s->mutex);
                    s->queuedJobs.erase(job);
                }
                if (job->settled) return; // timed out while queued
                auto result = job->work(job->cancelled, job->deadline);
                job->work = nullptr; // releases what the work holds (its plugin) before the late result is dropped
                job->settle(result);
            });
            state_->deadlines.push({job->deadline, job, timeout});
            job.reset();
        }
    }
    if (job) { // refused while stopping; answered outside the lock, since `done` may submit again
        job->settle({sdk::loader::errorOutput("host is shutting down"), sdk::loader::ToolOutcome::Error});
        return;
    }
    state_->workAvailable.notify_one();
    state_->deadlineChanged.notify_one();
}

void ToolExecutor::post(std::function<void()> task) {
    {
        std::lock_guard lock(state_->mutex);
        if (state_->stopping) return;
        state_->queue.push_back(std::move(task));
    }
    state_->workAvailable.notify_one();
}

} // namespace sideband::plugins
