#pragma once

// The real sideband-host binary (plain HTTP on a free 127.0.0.1 port, a SQLite file, a plugin
// directory of its own) against the Realtime simulator (plain HTTP) run by the test, with a signed
// webhook sender: what the operations tests signal and watch.
#include "HostProcess.h"
#include "RealtimeSimulator.h"
#include "SimulatedSession.h"
#include "TestCertificates.h"
#include "TestHttpClient.h"
#include "WebhookSender.h"

#include "tenants/TenantStoreFactory.h"

#include <boost/filesystem.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace sideband::testing {

class BinaryWithSimulator {
public:
    static constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    static constexpr const char* kApiKey = "sk-test-operations";

    BinaryWithSimulator() : port_(freePort()) {
        simulator::SimulatorOptions options;
        options.expectedApiKey = kApiKey;
        simulator_ = std::make_unique<simulator::RealtimeSimulator>(options);
        simulator_->start();
        boost::filesystem::create_directory(dir_.file("plugins"));
        env_ = {{"SIDEBAND_LISTEN", "127.0.0.1:" + std::to_string(port_)},
                {"SIDEBAND_INSECURE_HTTP", "1"},
                {"SIDEBAND_DB", "sqlite:" + dir_.file("sideband.db")},
                {"SIDEBAND_PLUGIN_DIR", dir_.file("plugins")},
                {"OPENAI_BASE_URL", simulator_->baseUrl()},
                {"OPENAI_WEBHOOK_SECRET", kSecret},
                {"OPENAI_API_KEY", kApiKey},
                {"SIDEBAND_LOG_LEVEL", "debug"}};
        simulator::WebhookSenderOptions sender;
        sender.url = "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/openai/webhook";
        sender.secret = kSecret;
        sender_ = std::make_unique<simulator::WebhookSender>(sender);
    }
    ~BinaryWithSimulator() {
        host_.reset(); // kills the process if it is still running
        simulator_->stop();
    }

    // Installs a plugin the way a deploy does: copy next to it, rename over.
    void installPlugin(const std::string& source, const std::string& name) {
        const auto tmp = dir_.file("plugins/" + name + ".tmp");
        boost::filesystem::copy_file(source, tmp, boost::filesystem::copy_options::overwrite_existing);
        boost::filesystem::rename(tmp, dir_.file("plugins/" + name));
    }

    void addTenant(const std::string& id, const std::string& number, const std::string& configJson = "{}") {
        tenants::TenantDefinition tenant;
        tenant.id = id;
        tenant.name = id;
        tenant.numbers = {number};
        tenant.configJson = configJson;
        tenant.instructions = tenants::Instructions{"You are a helpful receptionist.", "Thanks for calling!"};
        tenants::openTenantStore("sqlite:" + dir_.file("sideband.db"))->upsertTenant(tenant);
    }

    // Starts the binary and waits until /readyz answers 200.
    bool start() {
        host_ = std::make_unique<HostProcess>(SIDEBAND_HOST_BINARY, std::vector<std::string>{}, env_);
        return host_->waitForHttp(port_, "/readyz", 20000);
    }

    simulator::WebhookDelivery incomingCall(const std::string& callId, const std::string& to = "+18005550123") {
        simulator::IncomingCall call;
        call.callId = callId;
        call.to = to;
        call.fromName = "Alice";
        return sender_->deliver(simulator::makeIncomingCallEvent(call));
    }

    HttpResult get(const std::string& path) { return TestHttpClient("127.0.0.1", port_).get(path); }

    // Waits until the host's log holds `text`.
    bool waitForLog(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (host_->output().find(text) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return host_->output().find(text) != std::string::npos;
    }

    HostProcess& host() { return *host_; }
    simulator::RealtimeSimulator& simulator() { return *simulator_; }
    std::map<std::string, std::string>& env() { return env_; }
    const TempDir& dir() const { return dir_; }
    unsigned short port() const { return port_; }

private:
    TempDir dir_;
    unsigned short port_;
    std::map<std::string, std::string> env_;
    std::unique_ptr<simulator::RealtimeSimulator> simulator_;
    std::unique_ptr<simulator::WebhookSender> sender_;
    std::unique_ptr<HostProcess> host_;
};

} // namespace sideband::testing
