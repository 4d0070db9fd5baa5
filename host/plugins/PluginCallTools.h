#pragma once

#include "metrics/MetricsRegistry.h"
#include "plugins/CallTools.h"
#include "plugins/PluginLoader.h"
#include "plugins/ToolExecutor.h"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace sideband::plugins {

// What a plugin sees of its call (sdk::CallContext), implemented over the host's CallInfo,
// TenantConfig and CallActions. Owned by the call's PluginCallTools.
class HostCallContext : public sdk::CallContext, private sdk::CallActions, private sdk::Logger {
public:
    HostCallContext(const tenants::TenantConfig& tenant, const CallInfo& call,
                    std::shared_ptr<plugins::CallActions> actions, std::string pluginFile);

    const std::string& callId() const override { return call_.callId; }
    const std::string& tenantId() const override { return call_.tenantId; }
    const std::string& caller() const override { return call_.caller; }
    const std::string& dialed() const override { return call_.dialed; }
    const Poco::JSON::Object& tenantConfig() const override { return *config_; }
    const Poco::JSON::Object& pluginConfig() const override { return *pluginConfig_; }
    sdk::Logger& log() override { return *this; }
    sdk::CallActions& actions() override { return *this; }

private:
    void transfer(const std::string& target) override;
    void hangup() override;
    void debug(const std::string& message) override;
    void info(const std::string& message) override;
    void warn(const std::string& message) override;
    void error(const std::string& message) override;

    CallInfo call_;
    Poco::JSON::Object::Ptr config_; // a private deep copy: plugins cannot change the tenant's
    Poco::JSON::Object::Ptr pluginConfig_;
    std::shared_ptr<plugins::CallActions> actions_; // the host's, not the SDK's
    std::string pluginFile_;
};

// The tools of one call, bound to one loaded plugin build (held until the call's tools are released,
// so a reload never pulls code from under a call). A null plugin means "no tools".
class PluginCallTools : public CallTools, public std::enable_shared_from_this<PluginCallTools> {
public:
    PluginCallTools(LoadedPluginPtr plugin, std::unique_ptr<HostCallContext> context,
                    std::shared_ptr<ToolExecutor> executor, metrics::MetricsRegistry& metrics,
                    std::chrono::milliseconds toolTimeout);

    std::vector<ToolSpec> tools() const override;
    using CallTools::invoke;
    void invoke(const ToolInvocation& invocation, Done done) override;

    // decorateInstructions runs on the caller's thread (it must finish before the call is answered);
    // the other hooks run on the pool, one at a time per call, in order.
    void decorateInstructions(tenants::Instructions& instructions) override;
    void callStarted() override;
    void transcript(const tenants::TranscriptLine& line) override;
    void callEnded(const std::string& reason) override;

    std::chrono::milliseconds toolTimeout() const { return toolTimeout_; }
    const LoadedPluginPtr& plugin() const { return plugin_; }

private:
    using Hook = std::function<void(sdk::Plugin&, sdk::CallContext&)>;
    void postHook(const char* name, Hook hook);
    void drainHooks();

    LoadedPluginPtr plugin_;
    std::shared_ptr<HostCallContext> context_;
    std::shared_ptr<ToolExecutor> executor_;
    metrics::MetricsRegistry& metrics_;
    std::chrono::milliseconds toolTimeout_;

    std::mutex hooksMutex_;
    std::deque<std::pair<const char*, Hook>> hooks_;
    bool draining_ = false;
};

} // namespace sideband::plugins
