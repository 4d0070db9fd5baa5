#include "plugins/PluginCallTools.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"

#include <spdlog/spdlog.h>

namespace sideband::plugins {
namespace {

Poco::JSON::Object::Ptr deepCopy(const Poco::JSON::Object::Ptr& object) {
    if (!object) return new Poco::JSON::Object;
    auto copy = json::parse(json::stringify(object));
    if (copy.type() != typeid(Poco::JSON::Object::Ptr)) return new Poco::JSON::Object;
    return copy.extract<Poco::JSON::Object::Ptr>();
}

bool startsWith(const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
}

// Metrics must never turn a tool result into a crash (an undeclared family throws logic_error).
template <typename F> void record(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        spdlog::warn("tool metrics not recorded: {}", e.what());
    }
}

} // namespace

HostCallContext::HostCallContext(const tenants::TenantConfig& tenant, const CallInfo& call,
                                 std::shared_ptr<plugins::CallActions> actions, std::string pluginFile)
    : call_(call), config_(deepCopy(tenant.settings)), actions_(std::move(actions)),
      pluginFile_(std::move(pluginFile)) {
    if (call_.tenantId.empty()) call_.tenantId = tenant.tenantId;
    auto plugin = config_->getObject("plugin_config");
    pluginConfig_ = plugin ? plugin : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
}

void HostCallContext::transfer(const std::string& target) {
    // The spec's transfer targets are tel: or sip: URIs; anything else would be a REFER to nowhere.
    if (!startsWith(target, "tel:") && !startsWith(target, "sip:") && !startsWith(target, "sips:"))
        throw std::invalid_argument("transfer target must be a tel: or sip: URI, got '" + target + "'");
    if (!actions_) throw std::runtime_error("call actions are not available for this call");
    logging::forCall(call_.callId, call_.tenantId).info("plugin {}: transfer to {}", pluginFile_, target);
    actions_->transfer(target);
}

void HostCallContext::hangup() {
    if (!actions_) throw std::runtime_error("call actions are not available for this call");
    logging::forCall(call_.callId, call_.tenantId).info("plugin {}: hang up", pluginFile_);
    actions_->hangup();
}

void HostCallContext::debug(const std::string& m) {
    logging::forCall(call_.callId, call_.tenantId).debug("plugin {}: {}", pluginFile_, m);
}
void HostCallContext::info(const std::string& m) {
    logging::forCall(call_.callId, call_.tenantId).info("plugin {}: {}", pluginFile_, m);
}
void HostCallContext::warn(const std::string& m) {
    logging::forCall(call_.callId, call_.tenantId).warn("plugin {}: {}", pluginFile_, m);
}
void HostCallContext::error(const std::string& m) {
    logging::forCall(call_.callId, call_.tenantId).error("plugin {}: {}", pluginFile_, m);
}

PluginCallTools::PluginCallTools(LoadedPluginPtr plugin, std::unique_ptr<HostCallContext> context,
                                 std::shared_ptr<ToolExecutor> executor, metrics::MetricsRegistry& metrics,
                                 std::chrono::milliseconds toolTimeout)
    : plugin_(std::move(plugin)), context_(std::move(context)), executor_(std::move(executor)), metrics_(metrics),
      toolTimeout_(toolTimeout) {}

std::vector<ToolSpec> PluginCallTools::tools() const {
    std::vector<ToolSpec> specs;
    if (!plugin_) return specs;
    for (const auto& tool : plugin_->tools)
        specs.push_back({tool.name, tool.description, deepCopy(tool.parameters)});
    return specs;
}

void PluginCallTools::invoke(const ToolInvocation& invocation, Done done) {
    const std::string& toolName = invocation.name;
    const std::string& argumentsJson = invocation.argumentsJson;
    bool known = false;
    if (plugin_)
        for (const auto& tool : plugin_->tools)
            known = known || tool.name == toolName;
    // Unknown names come from the model: one label for all of them keeps the metric bounded.
    const std::string label = known ? toolName : "unknown";
    const std::string tenant = context_->tenantId();
    const std::string file = plugin_ ? plugin_->path : "(none)";
    const std::string callId = context_->callId();
    const auto timeout = toolTimeout_;

    auto work = [plugin = plugin_, context = context_, toolName, argumentsJson,
                 functionCallId = invocation.functionCallId](const ToolExecutor::Cancelled& cancelled,
                                                             ToolExecutor::Clock::time_point deadline) {
        using namespace sdk::loader;
        if (!plugin) return ToolOutput{errorOutput("unknown tool '" + toolName + "'"), ToolOutcome::UnknownTool};
        auto arguments = parseArguments(argumentsJson);
        if (!arguments)
            return ToolOutput{errorOutput("arguments for '" + toolName + "' are not a JSON object"),
                              ToolOutcome::BadArguments};
        sdk::ToolCall call(toolName, arguments, deadline, cancelled, functionCallId);
        return runTool(*plugin->plugin, plugin->tools, *context, call);
    };
    auto deliver = [&metrics = metrics_, label, tenant, file, callId,
                    done = std::move(done)](const ToolExecutor::Result& result, std::chrono::nanoseconds elapsed) {
        const char* outcome = sdk::loader::outcomeName(result.outcome);
        record([&] {
            metrics.increment(metrics::name::kToolCalls, {{"tenant", tenant}, {"tool", label}, {"outcome", outcome}});
            metrics.observe(metrics::name::kToolSeconds, std::chrono::duration<double>(elapsed).count(),
                            {{"tenant", tenant}, {"tool", label}});
        });
        if (result.outcome != sdk::loader::ToolOutcome::Ok)
            logging::forCall(callId, tenant)
                .warn("tool {} failed ({}): plugin={}: {}", label, outcome, file, result.json);
        if (done) done(result.json);
    };
    executor_->submit(timeout, std::move(work), std::move(deliver));
}

void PluginCallTools::decorateInstructions(tenants::Instructions& instructions) {
    if (!plugin_) return;
    sdk::CallSetup setup{instructions.prompt, instructions.greeting};
    try {
        plugin_->plugin->decorateCall(*context_, setup);
        instructions.prompt = std::move(setup.instructions);
        instructions.greeting = std::move(setup.greeting);
    } catch (const std::exception& e) {
        logging::forCall(context_->callId(), context_->tenantId())
            .warn("plugin {}: decorateCall threw, instructions unchanged: {}", plugin_->path, e.what());
    } catch (...) {
        logging::forCall(context_->callId(), context_->tenantId())
            .warn("plugin {}: decorateCall threw, instructions unchanged", plugin_->path);
    }
}

void PluginCallTools::callStarted() {
    postHook("onCallStarted", [](sdk::Plugin& p, sdk::CallContext& c) { p.onCallStarted(c); });
}

void PluginCallTools::transcript(const tenants::TranscriptLine& line) {
    postHook("onTranscript", [line = sdk::TranscriptLine{line.speaker, line.text}](
                                 sdk::Plugin& p, sdk::CallContext& c) { p.onTranscript(c, line); });
}

void PluginCallTools::callEnded(const std::string& reason) {
    postHook("onCallEnded", [reason](sdk::Plugin& p, sdk::CallContext& c) { p.onCallEnded(c, reason); });
}

void PluginCallTools::postHook(const char* name, Hook hook) {
    if (!plugin_) return;
    {
        std::lock_guard lock(hooksMutex_);
        hooks_.emplace_back(name, std::move(hook));
        if (draining_) return;
        draining_ = true;
    }
    // One drain task at a time per call: hooks stay in order without a thread per call.
    executor_->post([self = shared_from_this()] { self->drainHooks(); });
}

void PluginCallTools::drainHooks() {
    for (;;) {
        std::pair<const char*, Hook> next;
        {
            std::lock_guard lock(hooksMutex_);
            if (hooks_.empty()) {
                draining_ = false;
                return;
            }
            next = std::move(hooks_.front());
            hooks_.pop_front();
        }
        try {
            next.second(*plugin_->plugin, *context_);
        } catch (const std::exception& e) {
            logging::forCall(context_->callId(), context_->tenantId())
                .warn("plugin {}: {} threw: {}", plugin_->path, next.first, e.what());
        } catch (...) {
            logging::forCall(context_->callId(), context_->tenantId())
                .warn("plugin {}: {} threw", plugin_->path, next.first);
        }
    }
}

} // namespace sideband::plugins
