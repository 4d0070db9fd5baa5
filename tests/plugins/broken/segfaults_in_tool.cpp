// Broken on purpose: tool "crash" writes through a null pointer (SIGSEGV); "ok" answers {"ok":true}.
// For the isolation tests (tests/isolation): tenant A's crash ends only A's plugin runner, tenant B's
// calls keep their tool results, and A's runner answers "ok" again after its restart.
#include "BrokenPlugin.h"

namespace {
struct SegfaultsInTool : broken::BrokenPlugin {
    SegfaultsInTool()
        : BrokenPlugin({{"crash", [](const sideband::sdk::ToolCall&) -> broken::Object::Ptr {
                             // Both volatile: GCC drops a store through a volatile pointer to a plain int.
                             volatile int* volatile target = nullptr;
                             *target = 42;
                             return nullptr;
                         }}}) {}
};
} // namespace

SIDEBAND_PLUGIN(SegfaultsInTool)
