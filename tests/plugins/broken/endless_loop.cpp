// Broken on purpose: tool "spin" loops forever on the CPU, ignoring cancellation and its deadline;
// "ok" answers {"ok":true}. For the isolation tests (tests/isolation): tenant A's spinning tool
// times out and its runner is killed (CPU limit), while tenant B's calls get their results on time.
#include "BrokenPlugin.h"

namespace {
struct EndlessLoop : broken::BrokenPlugin {
    EndlessLoop()
        : BrokenPlugin({{"spin", [](const sideband::sdk::ToolCall&) -> broken::Object::Ptr {
                             volatile unsigned long spins = 0; // volatile: the loop is not optimized away
                             for (;;)
                                 spins = spins + 1;
                         }}}) {}
};
} // namespace

SIDEBAND_PLUGIN(EndlessLoop)
