#pragma once

#include <Poco/Net/PollSet.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sideband::simulator {

class SimulatedSession;

// Serves every established sideband WebSocket from a few poll loops instead of a thread each: the
// benchmark holds 1,000-2,000 of them against one simulator. Also runs the sessions' timers, and
// the byte-at-a-time writes of split-frame sessions on a thread of their own.
class SessionReactor {
public:
    explicit SessionReactor(int loops);
    ~SessionReactor();
    SessionReactor(const SessionReactor&) = delete;
    SessionReactor& operator=(const SessionReactor&) = delete;

    void start();
    void stop();

    void add(const std::shared_ptr<SimulatedSession>& session);
    void remove(const SimulatedSession& session);
    // Calls session->onTimer(generation) at `at` on the timer thread, unless the session is gone.
    void schedule(std::chrono::steady_clock::time_point at, std::weak_ptr<SimulatedSession> session,
                  std::uint64_t generation);
    // Calls session->onSplitWriteDue() at `at` on the split-write thread, unless the session is gone.
    // Its own thread: 1 ms byte pacing for hundreds of sessions must not delay script timers.
    void scheduleSplitWrite(std::chrono::steady_clock::time_point at, std::weak_ptr<SimulatedSession> session);

private:
    struct Loop {
        Poco::Net::PollSet pollSet;
        std::mutex mutex;
        std::unordered_map<const void*, std::shared_ptr<SimulatedSession>> sessions;
        std::thread thread;
    };

    // One thread calling sessions back at given times, earliest first.
    class TimerThread {
    public:
        using Callback = void (SimulatedSession::*)(std::uint64_t);
        explicit TimerThread(Callback callback) : callback_(callback) {}
        void start();
        void stop();
        void schedule(std::chrono::steady_clock::time_point at, std::weak_ptr<SimulatedSession> session,
                      std::uint64_t generation);

    private:
        struct Timer {
            std::chrono::steady_clock::time_point at;
            std::weak_ptr<SimulatedSession> session;
            std::uint64_t generation;
            bool operator>(const Timer& other) const { return at > other.at; }
        };
        void run();

        const Callback callback_;
        bool running_ = false; // guarded by mutex_
        std::mutex mutex_;
        std::condition_variable changed_;
        std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
        std::thread thread_;
    };

    void runLoop(Loop& loop);

    std::vector<std::unique_ptr<Loop>> loops_;
    std::atomic<std::size_t> next_{0};
    std::atomic<bool> running_{false};
    TimerThread timers_;
    TimerThread splitWrites_;
};

} // namespace sideband::simulator
