// Broken on purpose: tool "fork" calls fork() up to "count" times (default 1000); each child
// _exit(0)s at once and is reaped. Stops at the first failure and returns {"forked":N,"errno":E,
// "error":"..."} (errno 0 when all succeeded). "ok" answers {"ok":true}. For the isolation tests
// (tests/isolation): in the sandbox fork fails (EPERM, or EAGAIN under a process limit) with
// forked 0.
#include "BrokenPlugin.h"

#include <cerrno>
#include <cstring>

#include <sys/wait.h>
#include <unistd.h>

namespace {
struct ForkLoop : broken::BrokenPlugin {
    ForkLoop()
        : BrokenPlugin({{"fork", [](const sideband::sdk::ToolCall& tool) -> broken::Object::Ptr {
                             const int count = tool.arguments().optValue<int>("count", 1000);
                             int forked = 0, error = 0;
                             for (; forked < count; ++forked) {
                                 const pid_t child = ::fork();
                                 if (child < 0) {
                                     error = errno;
                                     break;
                                 }
                                 if (child == 0) ::_exit(0);
                                 ::waitpid(child, nullptr, 0);
                             }
                             broken::Object::Ptr result = new broken::Object;
                             result->set("forked", forked);
                             result->set("errno", error);
                             result->set("error", error ? std::string(std::strerror(error)) : std::string());
                             return result;
                         }}}) {}
};
} // namespace

SIDEBAND_PLUGIN(ForkLoop)
