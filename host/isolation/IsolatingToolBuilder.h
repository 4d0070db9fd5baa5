#pragma once

#include "io/EventLoop.h"
#include "isolation/PluginRunner.h"
#include "metrics/MetricsRegistry.h"
#include "plugins/CallTools.h"
#include "plugins/PluginToolBuilder.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace sideband::isolation {

// The host's ToolBuilder: a tenant's plugin runs in its own supervised, sandboxed process
// (PluginRunner) unless the tenant or the host chose in-process mode, which the wrapped
// PluginToolBuilder serves. Sessions see CallTools either way.
//
// Per tenant, settings "isolation": "process" | "in_process" (default: SIDEBAND_PLUGIN_ISOLATION);
// "plugin_network": true lets the tenant's plugin open TCP connections (default: no network).
class IsolatingToolBuilder : public plugins::ToolBuilder {
public:
    IsolatingToolBuilder(plugins::PluginToolBuilder& inProcess, RunnerSettings settings, bool isolateByDefault,
                         metrics::MetricsRegistry& metrics);
    ~IsolatingToolBuilder() override; // stops every runner

    std::shared_ptr<plugins::CallTools> build(const tenants::TenantConfig& tenant, const plugins::CallInfo& call,
                                              std::shared_ptr<plugins::CallActions> actions) override;

    // New calls get new runners (and in-process loads) of the files as they are now; calls in
    // progress keep theirs until they end. Failed plugins are tried again.
    void reloadAll();
    // Starts the runners of these tenants now, so their first call does not wait for a load.
    void prestart(const std::vector<tenants::TenantConfig>& tenants);
    // Kills every runner (host shutdown); their pending tools get an error output.
    void stop();

    bool isolated(const tenants::TenantConfig& tenant) const;
    // Per isolated tenant: tool calls its runner is running and queueing (sideband_tool_busy/_queued).
    std::vector<plugins::ToolExecutor::TenantLoad> load() const;
    // The tenant's current runner, or null (tests, /metrics).
    std::shared_ptr<PluginRunner> runnerFor(const std::string& tenantId) const;

private:
    std::shared_ptr<PluginRunner> runner(const tenants::TenantConfig& tenant);

    plugins::PluginToolBuilder& inProcess_;
    const RunnerSettings settings_;
    const bool isolateByDefault_;
    metrics::MetricsRegistry& metrics_;
    io::EventLoop loop_{"plugin-runners"}; // owns every runner's socket: one thread however many tenants

    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<PluginRunner>> runners_; // by tenant
    std::vector<std::weak_ptr<PluginRunner>> all_;                 // retired ones too, for stop()
};

} // namespace sideband::isolation
