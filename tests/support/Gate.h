#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace sideband::testing {

// Holds the threads that pass() while it is closed, so a test can act while one waits (a read
// behind a commit, a write behind a slow database). Bounded: a failing test must not hang.
class Gate {
public:
    void close() {
        std::lock_guard lock(mutex_);
        open_ = false;
    }
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        changed_.notify_all();
    }
    // Returns at once while open; while closed, when opened (or after 10 s).
    void pass() {
        std::unique_lock lock(mutex_);
        if (open_) return;
        ++held_;
        changed_.notify_all();
        changed_.wait_for(lock, std::chrono::seconds(10), [this] { return open_; });
        --held_;
    }
    // True once a thread waits at the closed gate (false after 10 s without one).
    bool waitUntilHeld() {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::seconds(10), [this] { return held_ > 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool open_ = true;
    int held_ = 0;
};

} // namespace sideband::testing
