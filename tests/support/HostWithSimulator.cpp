#include "HostWithSimulator.h"

namespace sideband::testing {

HostWithSimulator::HostWithSimulator(const std::function<void(Settings&)>& tune,
                                     std::unique_ptr<tenants::TenantStore> store,
                                     std::unique_ptr<calls::SessionLauncher> launcher) {
    const auto& certificates = TestCertificates::shared();
    simulator::SimulatorOptions simulatorOptions;
    simulatorOptions.tlsCert = certificates.certFile();
    simulatorOptions.tlsKey = certificates.keyFile();
    simulatorOptions.expectedApiKey = kApiKey;
    simulatorOptions.httpThreads = 64;
    simulator_ = std::make_unique<simulator::RealtimeSimulator>(simulatorOptions);
    simulator_->start();

    settings_.listen = "127.0.0.1:0";
    settings_.tlsCert = certificates.certFile();
    settings_.tlsKey = certificates.keyFile();
    settings_.webhookSecret = kSecret;
    settings_.openaiApiKey = kApiKey;
    settings_.openaiBaseUrl = simulator_->baseUrl();
    settings_.openaiCaFile = certificates.caFile();
    settings_.openaiTimeoutMs = 3000;
    settings_.database = "sqlite:" + dir_.file("sideband.db");
    settings_.pluginDir = SIDEBAND_BUILD_PLUGIN_DIR;
    settings_.pluginRunner = SIDEBAND_BUILD_PLUGIN_RUNNER;
    settings_.stateDir = dir_.path(); // runners work in <state>/plugins/<tenant>
    settings_.httpThreads = 16;
    if (tune) tune(settings_);
    host_ = std::make_unique<Host>(settings_, SystemClock::instance(), std::move(store), std::move(launcher));
    host_->start();

    simulator::WebhookSenderOptions senderOptions;
    senderOptions.url = "https://localhost:" + std::to_string(host_->port()) + "/api/v1/openai/webhook";
    senderOptions.caFile = certificates.caFile();
    senderOptions.secret = kSecret;
    sender_ = std::make_unique<simulator::WebhookSender>(senderOptions);
}

HostWithSimulator::~HostWithSimulator() {
    host_->stop();
    simulator_->stop();
}

void HostWithSimulator::addTenant(const std::string& id, const std::string& number, const std::string& configJson,
                                  std::optional<int> callLimit, bool enabled,
                                  std::optional<tenants::Instructions> instructions) {
    tenants::TenantDefinition tenant;
    tenant.id = id;
    tenant.name = id;
    tenant.enabled = enabled;
    tenant.callLimit = callLimit;
    tenant.numbers = {number};
    tenant.configJson = configJson;
    tenant.instructions = std::move(instructions);
    host_->store().upsertTenant(tenant);
}

simulator::WebhookDelivery HostWithSimulator::incomingCall(const std::string& callId, const std::string& to) {
    simulator::IncomingCall call;
    call.callId = callId;
    call.to = to;
    call.fromName = "Alice";
    return sender_->deliver(simulator::makeIncomingCallEvent(call));
}

} // namespace sideband::testing
