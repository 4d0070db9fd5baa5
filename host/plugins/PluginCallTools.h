#pragma once

#include "metrics/MetricsRegistry.h"
#include "plugins/CallTools.h"
#include "plugins/PluginLoader.h"
#include "plugins/ToolExecutor.h"

#include <algorithm>
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

    // Every hook runs on the pool, in the tenant's share, with a deadline (hookTimeout()).
    // decorateInstructions waits for it (the call is answered after it): past decorateTimeout() the
    // call gets its instructions undecorated. The other hooks run one at a time per call, in order;
    // one that overruns its deadline is logged and counted, and the call's next hooks start without
    // waiting for it (so they may overlap with it): a hung hook never holds up the rest of the call.
    void decorateInstructions(tenants::Instructions& instructions) override;
    void callStarted() override;
    void transcript(const tenants::TranscriptLine& line) override;
    void callEnded(const std::string& reason) override;

    // Hooks get the tool deadline, capped: nobody waits for them, but a hung one must not hold the
    // tenant's share for long. decorateCall delays the answer to a ringing call: capped lower.
    static constexpr std::chrono::milliseconds kMaxHookTimeout{5000};
    static constexpr std::chrono::milliseconds kMaxDecorateTimeout{2000};

    std::chrono::milliseconds toolTimeout() const { return toolTimeout_; }
    std::chrono::milliseconds hookTimeout() const { return std::min(toolTimeout_, kMaxHookTimeout); }
    std::chrono::milliseconds decorateTimeout() const { return std::min(toolTimeout_, kMaxDecorateTimeout); }
    const LoadedPluginPtr& plugin() const { return plugin_; }

private:
    using Hook = std::function<void(sdk::Plugin&, sdk::CallContext&)>;
    void postHook(const char* name, Hook hook);
    void runHooks();
    void hookSettled(const char* name, const ToolExecutor::Result& result);

    LoadedPluginPtr plugin_;
    std::shared_ptr<HostCallContext> context_;
    std::shared_ptr<ToolExecutor> executor_;
    metrics::MetricsRegistry& metrics_;
    std::chrono::milliseconds toolTimeout_;

    std::mutex hooksMutex_;
    std::deque<std::pair<const char*, Hook>> hooks_;
    bool hooksRunning_ = false; // one hook of this call submitted at a time
};

} // namespace sideband::plugins
