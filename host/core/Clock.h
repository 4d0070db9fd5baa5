#pragma once

#include <atomic>
#include <chrono>

namespace sideband {

// The one seam for time: TTLs, signature tolerance and sweepers take a Clock so tests pin it.
class Clock {
public:
    using time_point = std::chrono::system_clock::time_point;
    virtual ~Clock() = default;
    virtual time_point now() const = 0;
};

class SystemClock final : public Clock {
public:
    time_point now() const override { return std::chrono::system_clock::now(); }
    static const SystemClock& instance() {
        static const SystemClock clock;
        return clock;
    }
};

// A clock that only moves when told to; for tests.
class ManualClock final : public Clock {
public:
    explicit ManualClock(time_point start = time_point{}) : now_(start.time_since_epoch().count()) {}
    explicit ManualClock(std::chrono::seconds sinceEpoch)
        : ManualClock(time_point{std::chrono::duration_cast<time_point::duration>(sinceEpoch)}) {}
    time_point now() const override { return time_point{time_point::duration{now_.load()}}; }
    void advance(std::chrono::nanoseconds by) {
        now_ += std::chrono::duration_cast<time_point::duration>(by).count();
    }

private:
    std::atomic<time_point::duration::rep> now_;
};

} // namespace sideband
