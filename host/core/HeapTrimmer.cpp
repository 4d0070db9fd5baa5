#include "core/HeapTrimmer.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sideband::core {

namespace {
// Resident pages of this process (the second field of /proc/self/statm), in bytes.
std::size_t residentBytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    if (!(statm >> size >> resident)) return 0;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}
} // namespace

HeapTrimmer::HeapTrimmer(Trim trim, std::size_t minEnded) : trim_(std::move(trim)), minEnded_(minEnded) {}

std::optional<HeapTrimmer::Trimmed> HeapTrimmer::observe(std::size_t activeCalls) {
    peak_ = std::max(peak_, activeCalls);
    if (peak_ < activeCalls + minEnded_ || activeCalls * 2 > peak_) return std::nullopt;
    Trimmed trimmed{trim_(), peak_};
    peak_ = activeCalls;
    return trimmed;
}

std::size_t HeapTrimmer::trimProcessHeap() {
#if defined(__GLIBC__)
    const std::size_t before = residentBytes();
    ::malloc_trim(0);
    const std::size_t after = residentBytes();
    return before > after ? before - after : 0;
#else
    return 0;
#endif
}

} // namespace sideband::core
