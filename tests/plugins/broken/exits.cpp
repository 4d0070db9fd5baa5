// Broken on purpose: tool "exit" calls exit(0), ending whatever process runs it (atexit handlers and
// all); "ok" answers {"ok":true}. For the isolation tests (tests/isolation): tenant A's runner exits,
// the host sees it and restarts it, tenant B's calls are unaffected.
#include "BrokenPlugin.h"

#include <cstdlib>

namespace {
struct Exits : broken::BrokenPlugin {
    Exits() : BrokenPlugin({{"exit", [](const sideband::sdk::ToolCall&) -> broken::Object::Ptr { std::exit(0); }}}) {}
};
} // namespace

SIDEBAND_PLUGIN(Exits)
