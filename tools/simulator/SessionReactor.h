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
// benchmark holds 1,000-2,000 of them against one simulator. Also runs the sessions' timers.
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

private:
    struct Loop {
        Poco::Net::PollSet pollSet;
        std::mutex mutex;
        std::unordered_map<const void*, std::shared_ptr<SimulatedSession>> sessions;
        std::thread thread;
    };
    struct Timer {
        std::chrono::steady_clock::time_point at;
        std::weak_ptr<SimulatedSession> session;
        std::uint64_t generation;
        bool operator>(const Timer& other) const { return at > other.at; }
    };

    void runLoop(Loop& loop);
    void runTimers();

    std::vector<std::unique_ptr<Loop>> loops_;
    std::atomic<std::size_t> next_{0};
    std::atomic<bool> running_{false};
    std::mutex timerMutex_;
    std::condition_variable timerChanged_;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
    std::thread timerThread_;
};

} // namespace sideband::simulator
