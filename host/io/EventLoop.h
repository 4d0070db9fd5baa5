#pragma once

#include "io/LoopTimings.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sideband::io {

using SteadyClock = std::chrono::steady_clock;

// Something registered with a loop for readiness events on one file descriptor.
class EventHandler {
public:
    virtual ~EventHandler() = default;
    // EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP / EPOLLRDHUP bits, on the loop's thread.
    virtual void onEvents(std::uint32_t events) = 0;
    // The loop is ending with this still registered: close now, on the loop's thread (nothing
    // would ever run for it again).
    virtual void onLoopStopping() {}
};

// One thread running epoll: every socket registered with it is owned by that thread, and only that
// thread reads, writes, handshakes or closes it. Other threads hand work over with post(), which
// wakes the loop through an eventfd. Timers run on the loop too, so a deadline never needs a lock.
//
// In debug builds every socket call checks it runs on its owner (assertInLoop()).
class EventLoop {
public:
    using Task = std::function<void()>;
    using TimerId = std::uint64_t;

    explicit EventLoop(std::string name);
    ~EventLoop(); // stops and joins

    // Runs the loop on its own thread.
    void start();
    // Runs the tasks already posted, tells the handlers still registered (onLoopStopping), then
    // ends the thread.
    void stop();

    // Any thread: runs `task` on the loop's thread, in order of posting.
    void post(Task task);
    bool inLoopThread() const { return std::this_thread::get_id() == threadId_.load(); }
    bool running() const { return threadId_.load() != std::thread::id(); }
    void assertInLoop() const;
    const std::string& name() const { return name_; }

    // Loop thread only. `handler` must stay alive until remove().
    void add(int fd, std::uint32_t events, EventHandler* handler);
    void modify(int fd, std::uint32_t events, EventHandler* handler);
    void remove(int fd);

    // Loop thread only: runs `task` once at `when` (in deadline order); cancel() forgets it.
    TimerId runAt(SteadyClock::time_point when, Task task);
    TimerId runAfter(SteadyClock::duration delay, Task task) { return runAt(now() + delay, std::move(task)); }
    void cancel(TimerId id);
    // The time this loop iteration started (cheap; exact enough for deadlines).
    SteadyClock::time_point now() const { return now_; }
    // Any thread: how long iterations took and how late timers fired (for /metrics).
    const LoopTimings& timings() const { return timings_; }

private:
    void run();
    void runPosted();
    void runDueTimers();
    int nextTimeoutMs() const;

    std::string name_;
    int epollFd_ = -1;
    int wakeFd_ = -1;
    std::thread thread_;
    std::atomic<std::thread::id> threadId_{};
    std::atomic<bool> running_{false};

    std::mutex postedMutex_;
    std::vector<Task> posted_;
    bool wakePending_ = false; // under postedMutex_: the eventfd is already signalled

    // Handlers by a token that is never reused: an event queued for a closed fd finds nothing,
    // even if the kernel has handed the same fd number to a new connection.
    std::unordered_map<std::uint64_t, EventHandler*> handlers_;
    std::unordered_map<int, std::uint64_t> tokenByFd_;
    std::uint64_t nextToken_ = 1;

    std::multimap<SteadyClock::time_point, std::pair<TimerId, Task>> timers_;
    std::unordered_map<TimerId, decltype(timers_)::iterator> timerById_;
    TimerId nextTimer_ = 1;
    SteadyClock::time_point now_ = SteadyClock::now();
    LoopTimings timings_;
};

// A loop group: connections and sessions are spread over a few loops (one per core is plenty).
class EventLoops {
public:
    EventLoops(const std::string& name, int count);
    ~EventLoops();
    void stop();
    EventLoop& next(); // round robin
    std::size_t size() const { return loops_.size(); }
    EventLoop& at(std::size_t i) { return *loops_[i]; }

private:
    std::vector<std::unique_ptr<EventLoop>> loops_;
    std::atomic<std::size_t> next_{0};
};

} // namespace sideband::io
