#include "plugins/PluginToolBuilder.h"

#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "plugins/PluginCallTools.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sideband::plugins {

PluginToolBuilder::PluginToolBuilder(std::string pluginDirectory, metrics::MetricsRegistry& metrics,
                                     std::size_t toolThreads, std::string copyDirectory)
    : PluginToolBuilder(std::move(pluginDirectory), metrics, ToolExecutor::Options{toolThreads},
                        std::move(copyDirectory)) {}

PluginToolBuilder::PluginToolBuilder(std::string pluginDirectory, metrics::MetricsRegistry& metrics,
                                     const ToolExecutor::Options& pool, std::string copyDirectory)
    : loader_(std::move(pluginDirectory), std::move(copyDirectory)), metrics_(metrics),
      executor_(std::make_shared<ToolExecutor>(pool)) {}

std::chrono::milliseconds PluginToolBuilder::toolTimeout(const tenants::TenantConfig& tenant) {
    if (!tenant.settings || !tenant.settings->has("tool_timeout_ms")) return kDefaultToolTimeout;
    try {
        auto value = tenant.settings->get("tool_timeout_ms");
        if (value.isNumeric()) {
            auto ms = value.convert<double>();
            if (ms >= 1 && ms <= 24 * 3600 * 1000.0) return std::chrono::milliseconds(static_cast<long long>(ms));
        }
    } catch (const std::exception&) {
    }
    spdlog::warn("tenant {}: tool_timeout_ms is not a positive number of milliseconds; using {} ms", tenant.tenantId,
                 kDefaultToolTimeout.count());
    return kDefaultToolTimeout;
}

std::size_t PluginToolBuilder::toolConcurrency(const tenants::TenantConfig& tenant, std::size_t perTenant) {
    if (!tenant.settings || !tenant.settings->has("tool_concurrency")) return perTenant;
    try {
        auto value = tenant.settings->get("tool_concurrency");
        if (value.isNumeric()) {
            auto n = value.convert<double>();
            if (n >= 1 && n == static_cast<double>(static_cast<long long>(n)))
                return std::min(perTenant, static_cast<std::size_t>(std::min(n, 1e6)));
        }
    } catch (const std::exception&) {
    }
    spdlog::warn("tenant {}: tool_concurrency is not a positive integer; using {}", tenant.tenantId, perTenant);
    return perTenant;
}

std::shared_ptr<CallTools> PluginToolBuilder::build(const tenants::TenantConfig& tenant, const CallInfo& call,
                                                    std::shared_ptr<CallActions> actions) {
    LoadedPluginPtr plugin;
    if (!tenant.plugin.empty()) {
        try {
            plugin = loader_.load(tenant.plugin, tenant.pluginSha256);
        } catch (const sdk::loader::LoadError& e) {
            logging::forCall(call.callId, tenant.tenantId)
                .error("plugin load failed: tenant={} plugin={} reason={}: {}", tenant.tenantId, tenant.plugin,
                       sdk::loader::reasonName(e.reason()), e.what());
            try {
                metrics_.increment(metrics::name::kPluginLoadFailures,
                                   {{"tenant", tenant.tenantId}, {"reason", sdk::loader::reasonName(e.reason())}});
            } catch (const std::exception&) {
            }
            throw PluginLoadError(e.reason(),
                                  "tenant " + tenant.tenantId + ": plugin " + tenant.plugin + ": " + e.what());
        } catch (const std::exception& e) {
            // Anything else (disk full writing the private copy, ...) is still a refused plugin, not a dead call.
            logging::forCall(call.callId, tenant.tenantId)
                .error("plugin load failed: tenant={} plugin={}: {}", tenant.tenantId, tenant.plugin, e.what());
            throw PluginLoadError(sdk::loader::LoadFailure::FileMissing,
                                  "tenant " + tenant.tenantId + ": plugin " + tenant.plugin + ": " + e.what());
        }
    }
    // Every call applies its tenant's current share, so an edited config reaches the pool with the next call.
    // (Keyed like HostCallContext::tenantId(), which the call's jobs are submitted under.)
    executor_->setTenantConcurrency(call.tenantId.empty() ? tenant.tenantId : call.tenantId,
                                    toolConcurrency(tenant, executor_->concurrencyPerTenant()));
    auto context = std::make_unique<HostCallContext>(tenant, call, std::move(actions),
                                                     plugin ? plugin->path : std::string("(none)"));
    return std::make_shared<PluginCallTools>(std::move(plugin), std::move(context), executor_, metrics_,
                                             toolTimeout(tenant));
}

void PluginToolBuilder::reloadAll() {
    loader_.reloadAll();
    spdlog::info("plugins reloaded: new calls load the files in {} as they are now", loader_.directory());
}

} // namespace sideband::plugins
