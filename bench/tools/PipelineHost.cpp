// bench-pipeline-host: sideband-host's Host, configured from the same environment, with one
// difference: an accepted call gets no sideband session. Its launcher ends the call at once
// (slot released, end recorded as `no_session`), which is what the real host does when the
// sideband refuses it, minus the TLS handshake and WebSocket upgrade. It measures the
// incoming-call pipeline alone (verify, dedup, tenant, capacity, instructions, config, tools,
// accept, record) next to the real binary's figures, which include the per-call sideband connect.
// Stops on SIGTERM/SIGINT.
#include "app/Host.h"
#include "app/Settings.h"
#include "app/Signals.h"
#include "calls/CallEnd.h"
#include "core/Logging.h"

#include <spdlog/spdlog.h>

#include <iostream>

using namespace sideband;

namespace {

class EndAtOnceLauncher final : public calls::SessionLauncher {
public:
    void attach(Host& host) { host_ = &host; }
    void launch(calls::AcceptedCall call) override {
        host_->ledger().release(call.callId);
        calls::recordCallEnd(host_->store(), host_->metrics(), SystemClock::instance(), call.callId, call.tenantId,
                             "no_session");
    }
    void endCall(const std::string&, const std::string&) override {}

private:
    Host* host_ = nullptr;
};

} // namespace

int main() {
    signals::blockServiceSignals();
    std::vector<std::string> problems;
    const auto settings = Settings::load(Settings::environmentThenFile(""), problems);
    logging::configure(logging::parseFormat(settings.logFormat), spdlog::level::from_str(settings.logLevel));
    for (const auto& problem : settings.validate())
        problems.push_back(problem);
    for (const auto& problem : problems)
        std::cerr << problem << "\n";
    if (!problems.empty()) return 78;

    auto launcher = std::make_unique<EndAtOnceLauncher>();
    auto* ends = launcher.get();
    Host host(settings, SystemClock::instance(), nullptr, std::move(launcher));
    ends->attach(host); // before start(): no call arrives earlier
    host.start();
    spdlog::info("bench-pipeline-host listening on {} (no sideband sessions)", settings.listen);
    signals::waitForSignal();
    host.stop();
    return 0;
}
