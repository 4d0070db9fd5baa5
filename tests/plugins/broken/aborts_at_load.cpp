// Broken on purpose: its factory (the plugin's constructor) calls abort(), so loading it kills the
// process that loads it, after the fingerprint check and dlopen (constructor_aborts is the variant
// that aborts inside dlopen). For the isolation tests (tests/isolation): loading it for tenant A
// fails A's plugin without affecting tenant B's calls. Never load it in a test process.
#include "BrokenPlugin.h"

#include <cstdlib>

namespace {
struct AbortsAtLoad : broken::BrokenPlugin {
    AbortsAtLoad() : BrokenPlugin({}) { std::abort(); }
};
} // namespace

SIDEBAND_PLUGIN(AbortsAtLoad)
