#pragma once

#include <cstddef>
#include <functional>
#include <optional>

namespace sideband::core {

// Gives the heap's free pages back to the kernel once many calls have ended. glibc keeps what a
// burst of calls freed inside its arenas: 2,000 held calls took the host to 100 MiB RSS, and it
// stayed at 100 MiB after every call had ended although 71 MB of it was free (malloc_info). So
// after a busy hour the process would show its busiest minute for good, and an operator could
// not tell that from a leak. Trimming is skipped while the count of calls holds steady, because
// then the freed memory is about to be reused; it runs when at least `minEnded` calls have ended
// since the last peak and at most half of that peak remains.
class HeapTrimmer {
public:
    // Returns the bytes the process's resident set shrank by.
    using Trim = std::function<std::size_t()>;
    static constexpr std::size_t kDefaultMinEnded = 64;

    explicit HeapTrimmer(Trim trim = trimProcessHeap, std::size_t minEnded = kDefaultMinEnded);

    // Called now and then (the host's sweeper, every few seconds) with the calls in progress.
    // Returns how many bytes a trim gave back when it ran one, nothing otherwise.
    struct Trimmed {
        std::size_t bytes = 0;
        std::size_t peakCalls = 0;
    };
    std::optional<Trimmed> observe(std::size_t activeCalls);

    // malloc_trim(0) (glibc; elsewhere a no-op), measured
    // through /proc/self/statm.
    static std::size_t trimProcessHeap();

private:
    Trim trim_;
    std::size_t minEnded_;
    std::size_t peak_ = 0;
};

} // namespace sideband::core
