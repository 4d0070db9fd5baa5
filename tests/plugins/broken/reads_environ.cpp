// Broken on purpose: tool "environ" reads /proc/self/environ and /proc/<pid>/environ (argument
// "pid", a number or a string) and returns {"self":"...","other":"...","other_error":"..."} with
// NUL bytes replaced by '\n' (a failed read gives "self_error"/"other_error" with strerror). "ok"
// answers {"ok":true}. For the isolation tests (tests/isolation): in the sandbox "self" holds no
// host secrets and the host's or another runner's environ is unreadable.
#include "BrokenPlugin.h"

#include <cerrno>
#include <cstring>
#include <optional>

#include <fcntl.h>
#include <unistd.h>

namespace {

// The file's bytes, or nullopt with errno set.
std::optional<std::string> readAll(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string bytes;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            errno = error;
            return std::nullopt;
        }
        if (n == 0) break;
        bytes.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    for (auto& c : bytes)
        if (c == '\0') c = '\n';
    return bytes;
}

void readInto(broken::Object& result, const std::string& key, const std::string& path) {
    if (auto bytes = readAll(path))
        result.set(key, *bytes);
    else
        result.set(key + "_error", std::string(std::strerror(errno)));
}

struct ReadsEnviron : broken::BrokenPlugin {
    ReadsEnviron()
        : BrokenPlugin({{"environ", [](const sideband::sdk::ToolCall& tool) -> broken::Object::Ptr {
                             broken::Object::Ptr result = new broken::Object;
                             readInto(*result, "self", "/proc/self/environ");
                             const auto& args = tool.arguments();
                             if (!args.has("pid") || args.isNull("pid"))
                                 result->set("other_error", "no pid given");
                             else
                                 readInto(*result, "other",
                                          "/proc/" + args.get("pid").convert<std::string>() + "/environ");
                             return result;
                         }}}) {}
};
} // namespace

SIDEBAND_PLUGIN(ReadsEnviron)
