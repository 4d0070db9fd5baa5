// Broken on purpose: tool "write" tries to create the file named by the argument "path" and write a
// line to it; returns {"written":true} or {"error_errno":N,"error":"..."}. "ok" answers {"ok":true}.
// For the isolation tests (tests/isolation): in the sandbox writing outside the runner's own
// directory fails (read-only or absent filesystem) and no file appears.
#include "BrokenPlugin.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace {
struct WritesOutside : broken::BrokenPlugin {
    WritesOutside()
        : BrokenPlugin({{"write", [](const sideband::sdk::ToolCall& tool) -> broken::Object::Ptr {
                             const std::string path = tool.requireString("path");
                             broken::Object::Ptr result = new broken::Object;
                             const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                             const char line[] = "written by writes_outside\n";
                             if (fd < 0 ||
                                 ::write(fd, line, sizeof line - 1) != static_cast<ssize_t>(sizeof line - 1)) {
                                 const int error = errno;
                                 if (fd >= 0) ::close(fd);
                                 result->set("error_errno", error);
                                 result->set("error", std::string(std::strerror(error)));
                                 return result;
                             }
                             ::close(fd);
                             result->set("written", true);
                             return result;
                         }}}) {}
};
} // namespace

SIDEBAND_PLUGIN(WritesOutside)
