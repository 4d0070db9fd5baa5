#pragma once

#include "Eventually.h"
#include "TestCertificates.h"

#include "RealtimeSimulator.h"
#include "WebhookSender.h"
#include "app/Host.h"

#include <chrono>
#include <memory>
#include <thread>

namespace sideband::testing {

// The real host (HTTPS, a real SQLite file, the build's plugins) pointed at the Realtime
// simulator (verified TLS with the test CA), plus a signed webhook sender: a whole call path on
// 127.0.0.1 for end-to-end tests.
class HostWithSimulator {
public:
    static constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    static constexpr const char* kApiKey = "sk-test-e2e";

    // `tune` may change the settings before the host starts; `store` replaces the SQLite store;
    // `launcher` replaces the sideband sessions.
    explicit HostWithSimulator(const std::function<void(Settings&)>& tune = {},
                               std::unique_ptr<tenants::TenantStore> store = nullptr,
                               std::unique_ptr<calls::SessionLauncher> launcher = nullptr);
    ~HostWithSimulator();

    Host& host() { return *host_; }
    simulator::RealtimeSimulator& simulator() { return *simulator_; }
    simulator::WebhookSender& sender() { return *sender_; }
    const Settings& settings() const { return settings_; }

    // Adds a tenant with its numbers, instructions and config to the host's store.
    void addTenant(const std::string& id, const std::string& number, const std::string& configJson = "{}",
                   std::optional<int> callLimit = std::nullopt, bool enabled = true,
                   std::optional<tenants::Instructions> instructions = tenants::Instructions{
                       "You are a helpful receptionist.", "Thanks for calling!"});

    simulator::WebhookDelivery incomingCall(const std::string& callId, const std::string& to = "+18005550123");

private:
    TempDir dir_;
    Settings settings_;
    std::unique_ptr<simulator::RealtimeSimulator> simulator_;
    std::unique_ptr<Host> host_;
    std::unique_ptr<simulator::WebhookSender> sender_;
};

} // namespace sideband::testing
