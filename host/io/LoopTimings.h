#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

namespace sideband::io {

// A fixed-bucket histogram of durations that one thread records into (a loop, every iteration) and
// any thread reads (a /metrics scrape): atomics without a lock or a read-modify-write, nothing
// allocated.
class DurationHistogram {
public:
    // Upper bounds in seconds: a loop iteration is normally well under a millisecond; tens of
    // milliseconds means every socket on that loop waited that long.
    static constexpr std::array<double, 8> kBoundsSeconds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25};

    struct Snapshot {
        std::vector<std::uint64_t> buckets; // per bound, not cumulative; above the last only in count
        double sumSeconds = 0;
        std::uint64_t count = 0;
    };

    // The recording thread only. The count goes up before the bucket: a reader that sees the bucket
    // also sees the count, so the +Inf bucket is never below a finite one (Prometheus would reject it).
    void record(std::chrono::steady_clock::duration duration) {
        bump(count_, std::memory_order_relaxed);
        sumNanos_.store(sumNanos_.load(std::memory_order_relaxed) +
                            std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count()),
                        std::memory_order_relaxed);
        const double seconds = std::chrono::duration<double>(duration).count();
        for (std::size_t i = 0; i < kBoundsSeconds.size(); ++i) {
            if (seconds <= kBoundsSeconds[i]) {
                bump(buckets_[i], std::memory_order_release);
                break;
            }
        }
    }

    // Any thread. A scrape racing a record may count it in `count` and `sum` but not yet in its bucket.
    Snapshot snapshot() const {
        Snapshot s;
        for (const auto& bucket : buckets_)
            s.buckets.push_back(bucket.load(std::memory_order_acquire));
        s.sumSeconds = double(sumNanos_.load(std::memory_order_relaxed)) / 1e9;
        s.count = count_.load(std::memory_order_relaxed);
        return s;
    }

private:
    static void bump(std::atomic<std::uint64_t>& counter, std::memory_order order) {
        counter.store(counter.load(std::memory_order_relaxed) + 1, order);
    }

    std::array<std::atomic<std::uint64_t>, kBoundsSeconds.size()> buckets_{};
    std::atomic<std::uint64_t> sumNanos_{0};
    std::atomic<std::uint64_t> count_{0};
};

// What a loop measures about itself (the two figures Envoy's dispatcher keeps as loop_duration and
// poll_delay): how long each iteration kept the thread (events, posted tasks and due timers), and
// how late a due timer was when the loop woke for it. The first grows when handlers do too much at
// once; the second when the loop thread waits for a core.
struct LoopTimings {
    DurationHistogram iteration;
    DurationHistogram timerDelay;
};

} // namespace sideband::io
