#pragma once

#include "metrics/MetricsRegistry.h"
#include "plugins/CallTools.h"
#include "plugins/PluginLoader.h"
#include "plugins/ToolExecutor.h"

#include <chrono>
#include <memory>
#include <string>

namespace sideband::plugins {

// The host's ToolBuilder: loads the tenant's plugin through PluginLoader (cached, SHA-256 pinned,
// confined to the plugin directory) and binds it to the call; tools run on one shared ToolExecutor.
//
//     PluginToolBuilder tools(settings.pluginDir, registry,           // SIDEBAND_PLUGIN_DIR
//                             {settings.toolThreads,                  // SIDEBAND_TOOL_THREADS
//                              settings.toolConcurrencyPerTenant,     // SIDEBAND_TOOL_CONCURRENCY_PER_TENANT
//                              settings.toolQueuePerTenant});         // SIDEBAND_TOOL_QUEUE_PER_TENANT
//     on SIGHUP / admin "reload-plugins":  tools.reloadAll();
//     at stop:                             tools.executor()->shutdown(grace);
//
// The registry must outlive the builder and every CallTools it built; declareSidebandMetrics() must
// have declared the tool and plugin families.
class PluginToolBuilder : public ToolBuilder {
public:
    static constexpr std::chrono::milliseconds kDefaultToolTimeout{10000};
    static constexpr std::size_t kDefaultToolThreads = 8;

    PluginToolBuilder(std::string pluginDirectory, metrics::MetricsRegistry& metrics,
                      std::size_t toolThreads = kDefaultToolThreads, std::string copyDirectory = {});
    PluginToolBuilder(std::string pluginDirectory, metrics::MetricsRegistry& metrics, const ToolExecutor::Options& pool,
                      std::string copyDirectory = {});

    // A tenant without a plugin gets CallTools with no tools. Load failures: one log line naming tenant
    // and plugin file, kPluginLoadFailures{tenant,reason}, then PluginLoadError (a ToolBuildError).
    std::shared_ptr<CallTools> build(const tenants::TenantConfig& tenant, const CallInfo& call,
                                     std::shared_ptr<CallActions> actions) override;

    // New calls load the plugin files as they are now; calls in progress keep their build.
    void reloadAll();

    // settings "tool_timeout_ms" (a positive integer), else 10 s.
    static std::chrono::milliseconds toolTimeout(const tenants::TenantConfig& tenant);
    // settings "tool_concurrency" (a positive integer) capped at `perTenant`, else `perTenant`: a tenant
    // may lower its own share of the pool, never raise it.
    static std::size_t toolConcurrency(const tenants::TenantConfig& tenant, std::size_t perTenant);

    PluginLoader& loader() { return loader_; }
    const std::shared_ptr<ToolExecutor>& executor() const { return executor_; }

private:
    PluginLoader loader_;
    metrics::MetricsRegistry& metrics_;
    std::shared_ptr<ToolExecutor> executor_;
};

} // namespace sideband::plugins
