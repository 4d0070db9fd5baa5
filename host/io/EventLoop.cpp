#include "io/EventLoop.h"

#include <spdlog/spdlog.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sideband::io {
namespace {

constexpr std::uint64_t kWakeToken = 0;
constexpr int kMaxEventsPerWait = 256;

} // namespace

EventLoop::EventLoop(std::string name) : name_(std::move(name)) {
    epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epollFd_ < 0 || wakeFd_ < 0) throw std::runtime_error("event loop: " + std::string(std::strerror(errno)));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWakeToken;
    ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &event);
}

EventLoop::~EventLoop() {
    stop();
    ::close(wakeFd_);
    ::close(epollFd_);
}

void EventLoop::start() {
    running_ = true;
    thread_ = std::thread([this] {
        threadId_ = std::this_thread::get_id();
        run();
    });
}

void EventLoop::stop() {
    if (!thread_.joinable()) return;
    post([this] { running_ = false; });
    thread_.join();
    threadId_ = std::thread::id();
}

void EventLoop::assertInLoop() const {
#ifndef NDEBUG
    if (!inLoopThread() && threadId_.load() != std::thread::id()) {
        spdlog::critical("event loop {}: a socket was used off its owner thread", name_);
        std::abort();
    }
#endif
}

void EventLoop::post(Task task) {
    bool wake = false;
    {
        std::lock_guard lock(postedMutex_);
        posted_.push_back(std::move(task));
        wake = !wakePending_;
        wakePending_ = true;
    }
    if (wake) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto written = ::write(wakeFd_, &one, sizeof one);
    }
}

void EventLoop::add(int fd, std::uint32_t events, EventHandler* handler) {
    assertInLoop();
    const auto token = nextToken_++;
    epoll_event event{};
    event.events = events;
    event.data.u64 = token;
    if (::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &event) != 0)
        throw std::runtime_error("epoll add: " + std::string(std::strerror(errno)));
    handlers_[token] = handler;
    tokenByFd_[fd] = token;
}

void EventLoop::modify(int fd, std::uint32_t events, EventHandler* handler) {
    assertInLoop();
    const auto it = tokenByFd_.find(fd);
    if (it == tokenByFd_.end()) return add(fd, events, handler);
    epoll_event event{};
    event.events = events;
    event.data.u64 = it->second;
    ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, fd, &event);
}

void EventLoop::remove(int fd) {
    assertInLoop();
    const auto it = tokenByFd_.find(fd);
    if (it == tokenByFd_.end()) return;
    ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(it->second);
    tokenByFd_.erase(it);
}

EventLoop::TimerId EventLoop::runAt(SteadyClock::time_point when, Task task) {
    assertInLoop();
    const auto id = nextTimer_++;
    timerById_[id] = timers_.emplace(when, std::make_pair(id, std::move(task)));
    return id;
}

void EventLoop::cancel(TimerId id) {
    assertInLoop();
    const auto it = timerById_.find(id);
    if (it == timerById_.end()) return;
    timers_.erase(it->second);
    timerById_.erase(it);
}

int EventLoop::nextTimeoutMs() const {
    if (timers_.empty()) return -1; // sleeps until an event or a post(): an idle loop costs nothing
    const auto wait = timers_.begin()->first - SteadyClock::now();
    if (wait <= SteadyClock::duration::zero()) return 0;
    // Round up: waking a little late is fine, waking early spins.
    return static_cast<int>(
        std::min<std::int64_t>(1000, std::chrono::duration_cast<std::chrono::milliseconds>(wait).count() + 1));
}

void EventLoop::runPosted() {
    // The signal is consumed before the tasks are taken: a post() that finds wakePending_ cleared
    // signals again, and one that found it set has its task in the batch taken below. (The other
    // order lost wake-ups: a post between the swap and the read left its task waiting for the
    // next timer, up to a second.)
    std::uint64_t count = 0;
    [[maybe_unused]] const auto read = ::read(wakeFd_, &count, sizeof count);
    std::vector<Task> tasks;
    {
        std::lock_guard lock(postedMutex_);
        tasks.swap(posted_);
        wakePending_ = false;
    }
    for (auto& task : tasks) {
        try {
            task();
        } catch (const std::exception& e) {
            spdlog::error("event loop {}: task failed: {}", name_, e.what());
        }
    }
}

void EventLoop::runDueTimers() {
    while (!timers_.empty() && timers_.begin()->first <= now_) {
        auto task = std::move(timers_.begin()->second.second);
        timerById_.erase(timers_.begin()->second.first);
        timers_.erase(timers_.begin());
        try {
            task();
        } catch (const std::exception& e) {
            spdlog::error("event loop {}: timer failed: {}", name_, e.what());
        }
    }
}

void EventLoop::run() {
    epoll_event events[kMaxEventsPerWait];
    while (running_) {
        const auto firstDue = timers_.empty() ? SteadyClock::time_point::max() : timers_.begin()->first;
        const int n = ::epoll_wait(epollFd_, events, kMaxEventsPerWait, nextTimeoutMs());
        now_ = SteadyClock::now();
        // The wait is rounded up to whole milliseconds: a timer is normally under 1 ms late.
        if (firstDue <= now_) timings_.timerDelay.record(now_ - firstDue);
        if (n < 0 && errno != EINTR) {
            spdlog::error("event loop {}: epoll_wait: {}", name_, std::strerror(errno));
            continue;
        }
        bool woken = false;
        for (int i = 0; i < n; ++i) {
            const auto token = events[i].data.u64;
            if (token == kWakeToken) {
                woken = true;
                continue;
            }
            // Looked up per event: an earlier handler in this batch may have closed this one.
            const auto it = handlers_.find(token);
            if (it == handlers_.end()) continue;
            try {
                it->second->onEvents(events[i].events);
            } catch (const std::exception& e) {
                spdlog::error("event loop {}: handler failed: {}", name_, e.what());
            }
        }
        if (woken) runPosted();
        runDueTimers();
        timings_.iteration.record(SteadyClock::now() - now_);
    }
    runPosted(); // what was posted before stop() still runs (closes, last answers)
    // Streams still lingering or idle would otherwise never close: their fds and memory would leak.
    std::vector<std::uint64_t> left;
    for (const auto& [token, handler] : handlers_)
        left.push_back(token);
    for (const auto token : left)
        if (const auto it = handlers_.find(token); it != handlers_.end()) it->second->onLoopStopping();
    runPosted();
}

EventLoops::EventLoops(const std::string& name, int count) {
    for (int i = 0; i < std::max(1, count); ++i) {
        loops_.push_back(std::make_unique<EventLoop>(name + "-" + std::to_string(i)));
        loops_.back()->start();
    }
}

EventLoops::~EventLoops() {
    stop();
}

void EventLoops::stop() {
    for (auto& loop : loops_)
        loop->stop();
}

EventLoop& EventLoops::next() {
    return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

} // namespace sideband::io
