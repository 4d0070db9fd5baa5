// Broken on purpose: tool "hog" allocates and touches 64 MiB chunks until allocation fails, then
// frees them and returns {"allocated_mb":N}; optional argument "max_mb" stops earlier (for a test
// without a memory limit). "ok" answers {"ok":true}. For the isolation tests (tests/isolation): in
// the sandbox the runner's memory limit stops tenant A (bad_alloc or the runner killed) and tenant
// B's calls are unaffected.
#include "BrokenPlugin.h"

#include <cstring>
#include <memory>
#include <new>
#include <vector>

namespace {
struct MemoryHog : broken::BrokenPlugin {
    MemoryHog()
        : BrokenPlugin({{"hog", [](const sideband::sdk::ToolCall& tool) -> broken::Object::Ptr {
                             constexpr std::size_t kChunk = 64u << 20;
                             const long maxMb = tool.arguments().optValue<long>("max_mb", 0);
                             std::vector<std::unique_ptr<char[]>> chunks;
                             try {
                                 while (maxMb <= 0 || static_cast<long>(chunks.size() * 64) < maxMb) {
                                     chunks.emplace_back(new char[kChunk]);
                                     std::memset(chunks.back().get(), 0x5a, kChunk); // touched: really resident
                                 }
                             } catch (const std::bad_alloc&) {
                             }
                             const long allocated = static_cast<long>(chunks.size() * 64);
                             chunks.clear();
                             broken::Object::Ptr result = new broken::Object;
                             result->set("allocated_mb", allocated);
                             return result;
                         }}}) {}
};
} // namespace

SIDEBAND_PLUGIN(MemoryHog)
