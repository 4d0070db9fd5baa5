// The host's heap trimmer (host/core/HeapTrimmer.h): when it gives freed memory back, and that
// the real trim does give it back.
#include "core/HeapTrimmer.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

using sideband::core::HeapTrimmer;

namespace {
struct CountingTrim {
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    HeapTrimmer::Trim fn() {
        return [calls = calls] {
            ++*calls;
            return std::size_t{4096};
        };
    }
};
} // namespace

TEST(HeapTrimmer, DoesNotTrimWhileTheCallCountHoldsSteady) {
    CountingTrim trim;
    HeapTrimmer trimmer(trim.fn(), 64);
    for (std::size_t active : {1000, 990, 1010, 1000, 995, 1005})
        EXPECT_FALSE(trimmer.observe(active));
    EXPECT_EQ(*trim.calls, 0);
}

TEST(HeapTrimmer, TrimsOnceHalfOfThePeakHasEnded) {
    CountingTrim trim;
    HeapTrimmer trimmer(trim.fn(), 64);
    EXPECT_FALSE(trimmer.observe(2000));
    EXPECT_FALSE(trimmer.observe(1001));
    const auto trimmed = trimmer.observe(1000);
    ASSERT_TRUE(trimmed);
    EXPECT_EQ(trimmed->bytes, 4096u);
    EXPECT_EQ(trimmed->peakCalls, 2000u);
    EXPECT_EQ(*trim.calls, 1);
}

TEST(HeapTrimmer, DoesNotTrimForFewerEndedCallsThanTheMinimum) {
    CountingTrim trim;
    HeapTrimmer trimmer(trim.fn(), 64);
    EXPECT_FALSE(trimmer.observe(100));
    EXPECT_FALSE(trimmer.observe(40)); // 60 ended: fewer than 64
    EXPECT_TRUE(trimmer.observe(0));   // 100 ended
    EXPECT_EQ(*trim.calls, 1);
}

TEST(HeapTrimmer, AfterATrimTheNextWaitsForANewDropFromTheLowerCount) {
    CountingTrim trim;
    HeapTrimmer trimmer(trim.fn(), 64);
    trimmer.observe(2000);
    EXPECT_TRUE(trimmer.observe(0));
    EXPECT_FALSE(trimmer.observe(0)); // nothing ended since
    EXPECT_FALSE(trimmer.observe(500));
    EXPECT_FALSE(trimmer.observe(300));
    EXPECT_TRUE(trimmer.observe(200));
    EXPECT_EQ(*trim.calls, 2);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SIDEBAND_SANITIZER_OWNS_THE_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SIDEBAND_SANITIZER_OWNS_THE_HEAP 1
#endif
#endif

// What the held-calls benchmark saw: many small blocks freed while a few between them stay, so
// glibc cannot shrink its heap from the top and keeps the free pages resident until trimmed.
TEST(HeapTrimmer, TrimProcessHeapGivesFreedPagesBackToTheKernel) {
#ifdef SIDEBAND_SANITIZER_OWNS_THE_HEAP
    GTEST_SKIP() << "the sanitizer's allocator, not glibc's, owns the heap here";
#else
    constexpr std::size_t kBlocks = 16384, kBlockSize = 4000; // about 64 MB
    std::vector<char*> blocks(kBlocks);
    for (auto& block : blocks) {
        block = new char[kBlockSize];
        for (std::size_t i = 0; i < kBlockSize; i += 512)
            block[i] = 1; // resident
    }
    for (std::size_t i = 0; i < kBlocks; ++i)
        if (i % 64 != 0) {
            delete[] blocks[i];
            blocks[i] = nullptr;
        }
    const std::size_t given = HeapTrimmer::trimProcessHeap();
    for (char* block : blocks)
        delete[] block;
    EXPECT_GT(given, std::size_t{32} << 20) << "bytes given back: " << given;
#endif
}
