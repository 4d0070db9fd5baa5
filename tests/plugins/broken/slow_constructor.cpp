// Broken on purpose: its factory (not a global constructor, which would hold the dynamic linker's
// lock and stall every dlopen) sleeps SIDEBAND_TEST_SLOW_CONSTRUCTOR_MS (default 30000) ms. If
// SIDEBAND_TEST_SLOW_CONSTRUCTOR_STARTED names a file, a line is appended to it when the sleep starts;
// if SIDEBAND_TEST_SLOW_CONSTRUCTOR_RELEASE names a file, the sleep ends as soon as it exists. "ok"
// answers {"ok":true}. Used by PluginLoaderTest (a slow load does not delay other plugins' loads)
// and the isolation tests (tests/isolation: tenant A's slow load does not delay tenant B's calls).
#include "BrokenPlugin.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <unistd.h>

namespace {

long envMs(const char* name, long fallback) {
    const char* value = std::getenv(name);
    return value && *value ? std::strtol(value, nullptr, 10) : fallback;
}

struct SlowConstructor : broken::BrokenPlugin {
    SlowConstructor() : BrokenPlugin({}) {
        const auto until = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(envMs("SIDEBAND_TEST_SLOW_CONSTRUCTOR_MS", 30000));
        if (const char* started = std::getenv("SIDEBAND_TEST_SLOW_CONSTRUCTOR_STARTED"))
            std::ofstream(started, std::ios::app) << "started\n";
        const char* release = std::getenv("SIDEBAND_TEST_SLOW_CONSTRUCTOR_RELEASE");
        while (std::chrono::steady_clock::now() < until) {
            if (release && ::access(release, F_OK) == 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
};
} // namespace

SIDEBAND_PLUGIN(SlowConstructor)
