#include "app/SystemdNotify.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#if defined(SIDEBAND_HAVE_LIBSYSTEMD)
#include <systemd/sd-daemon.h>
#endif

namespace sideband::systemd {

bool notify(const std::string& state) {
    // sd_notify() is itself a no-op without NOTIFY_SOCKET; checking first keeps the log quiet and
    // makes the non-systemd path obvious.
    const char* socket = std::getenv("NOTIFY_SOCKET");
    if (socket == nullptr || *socket == '\0') return false;
#if defined(SIDEBAND_HAVE_LIBSYSTEMD)
    // unset_environment = 0: child processes (none today) and later calls still see the socket.
    const int result = ::sd_notify(0, state.c_str());
    if (result < 0) {
        spdlog::debug("sd_notify failed: error {}", -result);
        return false;
    }
    return result > 0;
#else
    spdlog::debug("NOTIFY_SOCKET is set but this build has no libsystemd; not notifying");
    return false;
#endif
}

bool notifyReady(const std::string& status) { return notify("READY=1\nSTATUS=" + status); }

bool notifyStopping(const std::string& status) { return notify("STOPPING=1\nSTATUS=" + status); }

bool notifyStatus(const std::string& status) { return notify("STATUS=" + status); }

} // namespace sideband::systemd
