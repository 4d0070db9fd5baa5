#pragma once

#include <string>

namespace sideband::systemd {

// Readiness notification for `Type=notify` units (packaging/sideband-host.service), over
// sd_notify(3) from libsystemd. Every call is a no-op when NOTIFY_SOCKET is unset (not started by
// systemd) or when the host was built without libsystemd; a failure to send is logged at debug and
// never stops the host: the unit would time out and systemd reports that, which is the right place.

// Sends one notification (newline-separated `KEY=value` assignments, see sd_notify(3)).
// Returns true when a message was actually sent.
bool notify(const std::string& state);

// READY=1 plus a STATUS line: the listeners are bound and the host answers /readyz.
bool notifyReady(const std::string& status = "serving");
// STOPPING=1 plus a STATUS line: draining before exit.
bool notifyStopping(const std::string& status = "stopping");
// STATUS=... only (free-form text shown by `systemctl status`).
bool notifyStatus(const std::string& status);

} // namespace sideband::systemd
