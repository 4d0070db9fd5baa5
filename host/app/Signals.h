#pragma once

namespace sideband::signals {

// Ignores SIGPIPE, and blocks SIGINT, SIGTERM, SIGQUIT and SIGHUP in the calling thread; call it first thing in
// main(), before any thread starts, so every thread inherits the mask and only waitForSignal()
// ever receives them (no async-signal handler runs inside the host's code).
void blockServiceSignals();

// Waits for one of those signals and returns its number.
int waitForSignal();

} // namespace sideband::signals
