#include "plugins/ToolExecutor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <queue>

namespace sideband::plugins {
namespace {

using Result = ToolExecutor::Result;

const std::string& refusalOutput() {
    static const std::string output = sdk::loader::errorOutput("tool queue full for this tenant; try again shortly");
    return output;
}

Result shutdownResult() {
    return {sdk::loader::errorOutput("host is shutting down"), sdk::loader::ToolOutcome::Error};
}

struct Group;

struct Job {
    enum SettledBy { Open, Worker, Other };

    ToolExecutor::Work work;
    ToolExecutor::Done done;
    std::function<void()> task; // post(): no deadline, no result
    std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
    std::atomic<int> settledBy{Open};
    ToolExecutor::Clock::time_point start;
    ToolExecutor::Clock::time_point deadline;
    Group* group = nullptr;
    bool queued = false; // guarded by State::mutex

    bool settled() const { return settledBy.load() != Open; }
    // Whoever settles first (worker, watchdog, refusal, shutdown) delivers; everyone else drops their
    // result. Shutdown tells the worker's delivery apart from an earlier timeout by who settled.
    void settle(const Result& result) {
        int open = Open;
        if (settledBy.compare_exchange_strong(open, Worker)) deliver(result);
    }
    // Claims the job, then tells the tool to stop. In that order: a cooperative tool that returns as
    // soon as it sees the flag must find the job already settled, or its late result would win.
    bool cancelWith(const Result& result) {
        int open = Open;
        if (!settledBy.compare_exchange_strong(open, Other)) return false;
        cancelled->store(true);
        deliver(result);
        return true;
    }

private:
    void deliver(const Result& result) {
        auto callback = std::move(done);
        if (!callback) return; // post() tasks have none
        try {
            callback(result, ToolExecutor::Clock::now() - start);
        } catch (const std::exception& e) {
            spdlog::error("tool result callback threw: {}", e.what());
        } catch (...) {
            spdlog::error("tool result callback threw");
        }
    }
};

// One tenant's jobs.
struct Group {
    std::string tenant;
    std::deque<std::shared_ptr<Job>> queue;
    std::size_t running = 0;
    std::size_t concurrency = 1;
    std::size_t queueLimit = 0;
    std::uint64_t refused = 0;
    bool ready = false; // in State::ready

    // Counting running and queued together makes refusal independent of when a worker picks a job up.
    bool full() const {
        const auto admitted = running + queue.size();
        return admitted >= concurrency && admitted - concurrency >= queueLimit;
    }
};

struct Deadline {
    ToolExecutor::Clock::time_point at;
    std::weak_ptr<Job> job;
    std::chrono::milliseconds timeout;
    bool operator>(const Deadline& other) const { return at > other.at; }
};

void run(Job& job) {
    if (job.task) {
        try {
            job.task();
        } catch (const std::exception& e) {
            spdlog::error("plugin task threw: {}", e.what());
        } catch (...) {
            spdlog::error("plugin task threw");
        }
        job.task = nullptr;
        return;
    }
    if (job.settled()) { // answered while it waited
        job.work = nullptr;
        return;
    }
    Result result;
    try {
        result = job.work(job.cancelled, job.deadline);
    } catch (const std::exception& e) {
        result = {sdk::loader::errorOutput(std::string("tool failed: ") + e.what()), sdk::loader::ToolOutcome::Error};
    } catch (...) {
        result = {sdk::loader::errorOutput("tool failed"), sdk::loader::ToolOutcome::Error};
    }
    job.work = nullptr; // releases what the work holds (its plugin) before the late result is dropped
    job.settle(result);
}

} // namespace

struct ToolExecutor::State {
    State(std::size_t threads, std::size_t perTenant, std::size_t queuePerTenant)
        : current(threads), exited(threads, false), threads(threads), perTenant(perTenant),
          queuePerTenant(queuePerTenant) {}

    mutable std::mutex mutex;
    std::condition_variable workAvailable;
    std::condition_variable deadlineChanged;
    std::condition_variable changed;     // a worker finished a job or exited
    std::map<std::string, Group> groups; // never erased: Job::group and `ready` point into it
    std::deque<Group*> ready;            // round-robin order of groups with a job waiting and a free share
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines;
    std::vector<std::shared_ptr<Job>> current; // per worker: the job it runs
    std::vector<bool> exited;                  // per worker
    const std::size_t threads;
    const std::size_t perTenant;
    const std::size_t queuePerTenant;
    bool stopping = false;

    Group& group(const std::string& tenant) {
        auto [it, added] = groups.try_emplace(tenant);
        if (added) {
            it->second.tenant = tenant;
            it->second.concurrency = tenant.empty() ? threads : perTenant;
            it->second.queueLimit = tenant.empty() ? std::numeric_limits<std::size_t>::max() : queuePerTenant;
        }
        return it->second;
    }

    // A group is in `ready` once while it has a job waiting and a free share. True when it was added.
    bool markReady(Group& g) {
        if (g.ready || g.queue.empty() || g.running >= g.concurrency) return false;
        g.ready = true;
        ready.push_back(&g);
        return true;
    }

    void work(std::size_t index) {
        std::unique_lock lock(mutex);
        for (;;) {
            workAvailable.wait(lock, [&] { return stopping || !ready.empty(); });
            if (stopping) break; // shutdown answers the queued jobs
            Group& g = *ready.front();
            ready.pop_front();
            g.ready = false;
            if (g.queue.empty() || g.running >= g.concurrency) continue; // its share was lowered meanwhile
            auto job = std::move(g.queue.front());
            g.queue.pop_front();
            job->queued = false;
            ++g.running;
            current[index] = job;
            // To the back of the line: every other tenant with a job waiting goes first.
            if (markReady(g)) workAvailable.notify_one();
            lock.unlock();
            run(*job);
            lock.lock();
            --g.running;
            current[index].reset();
            job.reset(); // emptied by run(): nothing of the plugin is released under the lock
            if (markReady(g)) workAvailable.notify_one();
            changed.notify_all();
        }
        exited[index] = true;
        changed.notify_all();
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
            if (!job || job->settled()) continue;
            if (job->queued) { // never starts; its place in the tenant's queue is freed
                auto& queue = job->group->queue;
                queue.erase(std::find(queue.begin(), queue.end(), job));
                job->queued = false;
            }
            lock.unlock();
            job->cancelWith(
                {sdk::loader::errorOutput("tool timed out after " + std::to_string(next.timeout.count()) + " ms"),
                 sdk::loader::ToolOutcome::Timeout});
            job.reset();
            lock.lock();
        }
    }
};

ToolExecutor::ToolExecutor(std::size_t threads) : ToolExecutor(Options{threads}) {}

ToolExecutor::ToolExecutor(const Options& options)
    : threadCount_(std::max<std::size_t>(options.threads, 1)),
      concurrencyPerTenant_(std::clamp<std::size_t>(
          options.concurrencyPerTenant ? options.concurrencyPerTenant : threadCount_ / 2, 1, threadCount_)),
      queuePerTenant_(options.queuePerTenant) {
    state_ = std::make_shared<State>(threadCount_, concurrencyPerTenant_, queuePerTenant_);
    for (std::size_t i = 0; i < threadCount_; ++i)
        workers_.emplace_back([state = state_, i] { state->work(i); });
    watchdog_ = std::thread([state = state_] { state->watch(); });
}

ToolExecutor::~ToolExecutor() {
    shutdown(kDefaultShutdownGrace);
}

std::size_t ToolExecutor::shutdown(std::chrono::milliseconds grace) {
    if (shutDown_.exchange(true)) return 0;
    auto& s = *state_;
    std::vector<std::shared_ptr<Job>> queued;
    std::vector<std::shared_ptr<Job>> running;
    {
        std::lock_guard lock(s.mutex);
        s.stopping = true;
        for (auto& [tenant, g] : s.groups) {
            for (auto& job : g.queue) {
                job->queued = false;
                queued.push_back(std::move(job));
            }
            g.queue.clear();
            g.ready = false;
        }
        s.ready.clear();
        s.deadlines = {};
        for (const auto& job : s.current)
            if (job) running.push_back(job);
    }
    s.workAvailable.notify_all();
    s.deadlineChanged.notify_all();
    // Queued jobs are answered, never silently dropped: `done` is called exactly once.
    for (auto& job : queued) {
        if (job->task)
            job->task = nullptr;
        else
            job->cancelWith(shutdownResult());
    }
    queued.clear();
    // Cooperative tools return now; a result that comes back within the grace is still delivered.
    for (const auto& job : running)
        job->cancelled->store(true);
    running.clear();

    // The last owner may be plugin work running on one of our own workers (a job releasing a call's
    // tools): that worker is not waited for.
    std::size_t self = workers_.size();
    for (std::size_t i = 0; i < workers_.size(); ++i)
        if (workers_[i].get_id() == std::this_thread::get_id()) self = i;

    std::vector<std::pair<std::size_t, std::shared_ptr<Job>>> stuck;
    {
        std::unique_lock lock(s.mutex);
        s.changed.wait_for(lock, grace, [&] {
            for (std::size_t i = 0; i < s.exited.size(); ++i)
                if (i != self && !s.exited[i]) return false;
            return true;
        });
        for (std::size_t i = 0; i < s.current.size(); ++i)
            if (i != self && !s.exited[i] && s.current[i]) stuck.emplace_back(i, s.current[i]);
    }
    std::vector<bool> abandoned(workers_.size(), false);
    std::size_t abandonedCount = 0;
    for (auto& [i, job] : stuck) {
        // Answered now, or earlier by its timeout: the plugin code is still running. Abandon it.
        if (job->cancelWith(shutdownResult()) || job->settledBy == Job::Other) {
            abandoned[i] = true;
            ++abandonedCount;
            continue;
        }
        // Its worker is delivering its own result (host code, short): no callback after we return.
        std::unique_lock lock(s.mutex);
        s.changed.wait(lock, [&, i = i, &job = job] { return s.current[i] != job; });
    }
    stuck.clear();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        if (!workers_[i].joinable()) continue;
        if (i == self || abandoned[i])
            workers_[i].detach(); // holds the shared State and its own job only
        else
            workers_[i].join();
    }
    if (watchdog_.joinable()) {
        if (watchdog_.get_id() == std::this_thread::get_id())
            watchdog_.detach();
        else
            watchdog_.join();
    }
    if (abandonedCount)
        spdlog::warn("tool pool stopped: {} job(s) still running after the {} ms grace were abandoned (their "
                     "workers detached; they were told to cancel)",
                     abandonedCount, grace.count());
    return abandonedCount;
}

void ToolExecutor::submit(std::chrono::milliseconds timeout, Work work, Done done) {
    submit(std::string(), timeout, std::move(work), std::move(done));
}

void ToolExecutor::submit(const std::string& tenant, std::chrono::milliseconds timeout, Work work, Done done) {
    auto job = std::make_shared<Job>();
    job->work = std::move(work);
    job->done = std::move(done);
    job->start = Clock::now();
    job->deadline = job->start + timeout;
    enum class Verdict { Queued, Refused, Stopping } verdict = Verdict::Queued;
    bool wake = false;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->stopping) {
            verdict = Verdict::Stopping;
        } else {
            auto& g = state_->group(tenant);
            if (g.full()) {
                ++g.refused;
                verdict = Verdict::Refused;
            } else {
                job->group = &g;
                job->queued = true;
                g.queue.push_back(job);
                wake = state_->markReady(g);
                state_->deadlines.push({job->deadline, job, timeout});
            }
        }
    }
    // Answered outside the lock, since `done` may submit again.
    switch (verdict) {
    case Verdict::Queued:
        if (wake) state_->workAvailable.notify_one();
        state_->deadlineChanged.notify_one();
        break;
    case Verdict::Refused:
        job->cancelWith({refusalOutput(), sdk::loader::ToolOutcome::Error});
        break;
    case Verdict::Stopping:
        job->cancelWith(shutdownResult());
        break;
    }
}

void ToolExecutor::post(std::function<void()> task) {
    auto job = std::make_shared<Job>();
    job->task = std::move(task);
    bool wake = false;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->stopping) return;
        auto& g = state_->group({});
        job->group = &g;
        job->queued = true;
        g.queue.push_back(job);
        wake = state_->markReady(g);
    }
    if (wake) state_->workAvailable.notify_one();
}

void ToolExecutor::setTenantConcurrency(const std::string& tenant, std::size_t concurrency) {
    bool wake = false;
    {
        std::lock_guard lock(state_->mutex);
        auto& g = state_->group(tenant);
        g.concurrency = std::clamp<std::size_t>(concurrency, 1, tenant.empty() ? threadCount_ : concurrencyPerTenant_);
        wake = state_->markReady(g);
    }
    if (wake) state_->workAvailable.notify_one();
}

std::vector<ToolExecutor::TenantLoad> ToolExecutor::load() const {
    std::vector<TenantLoad> loads;
    std::lock_guard lock(state_->mutex);
    for (const auto& [tenant, g] : state_->groups)
        loads.push_back({tenant, g.running, g.queue.size(), g.refused});
    return loads;
}

ToolExecutor::Result ToolExecutor::refusal() {
    return {refusalOutput(), sdk::loader::ToolOutcome::Error};
}

bool ToolExecutor::isRefusal(const Result& result) {
    return result.outcome == sdk::loader::ToolOutcome::Error && result.json == refusalOutput();
}

} // namespace sideband::plugins
