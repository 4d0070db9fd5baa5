#include "plugins/PluginCallTools.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <optional>

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
        // The SDK's outcomes have no "refused": the host labels it (the job never ran, no duration).
        const bool refused = ToolExecutor::isRefusal(result);
        const char* outcome = refused ? "refused" : sdk::loader::outcomeName(result.outcome);
        record([&] {
            metrics.increment(metrics::name::kToolCalls, {{"tenant", tenant}, {"tool", label}, {"outcome", outcome}});
            if (refused)
                metrics.increment(metrics::name::kToolRefused, {{"tenant", tenant}});
            else
                metrics.observe(metrics::name::kToolSeconds, std::chrono::duration<double>(elapsed).count(),
                                {{"tenant", tenant}, {"tool", label}});
        });
        if (result.outcome != sdk::loader::ToolOutcome::Ok)
            logging::forCall(callId, tenant)
                .warn("tool {} failed ({}): plugin={}: {}", label, outcome, file, result.json);
        if (done) done(result.json);
    };
    executor_->submit(tenant, timeout, std::move(work), std::move(deliver));
}

void PluginCallTools::decorateInstructions(tenants::Instructions& instructions) {
    if (!plugin_) return;
    // Shared with the job: past the deadline this call moves on while the plugin may still run.
    struct Decoration {
        std::mutex mutex;
        std::condition_variable settled;
        bool done = false;
        ToolExecutor::Result result;
        sdk::CallSetup setup;
        std::optional<std::string> threw;
    };
    auto decoration = std::make_shared<Decoration>();
    auto work = [plugin = plugin_, context = context_, decoration,
                 setup = sdk::CallSetup{instructions.prompt, instructions.greeting}](
                    const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) mutable {
        std::optional<std::string> threw;
        try {
            plugin->plugin->decorateCall(*context, setup);
        } catch (const std::exception& e) {
            threw = e.what();
        } catch (...) {
            threw = "";
        }
        std::lock_guard lock(decoration->mutex);
        if (threw) {
            decoration->threw = threw;
            return ToolExecutor::Result{"{}", sdk::loader::ToolOutcome::Error};
        }
        decoration->setup = std::move(setup);
        return ToolExecutor::Result{"{}", sdk::loader::ToolOutcome::Ok};
    };
    executor_->submit(context_->tenantId(), decorateTimeout(), std::move(work),
                      [decoration](const ToolExecutor::Result& result, std::chrono::nanoseconds) {
                          std::lock_guard lock(decoration->mutex);
                          decoration->result = result;
                          decoration->done = true;
                          decoration->settled.notify_all();
                      });
    auto log = logging::forCall(context_->callId(), context_->tenantId());
    std::unique_lock lock(decoration->mutex);
    // The executor answers by the deadline; the extra second only guards against a bug there.
    decoration->settled.wait_for(lock, decorateTimeout() + std::chrono::seconds(1), [&] { return decoration->done; });
    const auto& result = decoration->result;
    if (decoration->done && result.outcome == sdk::loader::ToolOutcome::Ok) {
        instructions.prompt = std::move(decoration->setup.instructions);
        instructions.greeting = std::move(decoration->setup.greeting);
    } else if (decoration->threw) {
        if (decoration->threw->empty())
            log.warn("plugin {}: decorateCall threw, instructions unchanged", plugin_->path);
        else
            log.warn("plugin {}: decorateCall threw, instructions unchanged: {}", plugin_->path, *decoration->threw);
    } else if (!decoration->done || result.outcome == sdk::loader::ToolOutcome::Timeout) {
        log.warn("plugin {}: decorateCall overran its {} ms deadline; the call is answered with its instructions "
                 "undecorated",
                 plugin_->path, decorateTimeout().count());
        record([&] {
            metrics_.increment(metrics::name::kPluginHookTimeouts,
                               {{"tenant", context_->tenantId()}, {"hook", "decorateCall"}});
        });
    } else if (ToolExecutor::isRefusal(result)) {
        log.warn("plugin {}: decorateCall not run, the tenant's tool queue is full; instructions unchanged",
                 plugin_->path);
        record([&] { metrics_.increment(metrics::name::kToolRefused, {{"tenant", context_->tenantId()}}); });
    } else {
        log.warn("plugin {}: decorateCall not run ({}); instructions unchanged", plugin_->path, result.json);
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
        if (hooksRunning_) return;
        hooksRunning_ = true;
    }
    runHooks();
}

// Submits the call's next hook; the one after it is submitted when this one settles (returned, or
// its deadline passed). A loop rather than recursion when the executor answers at once (refused,
// shutting down), so a long backlog cannot grow the stack.
void PluginCallTools::runHooks() {
    for (;;) {
        std::pair<const char*, Hook> next;
        {
            std::lock_guard lock(hooksMutex_);
            if (hooks_.empty()) {
                hooksRunning_ = false;
                return;
            }
            next = std::move(hooks_.front());
            hooks_.pop_front();
        }
        const char* name = next.first;
        // Exceptions are logged here, on the worker: an Error settlement then means refused or shutdown.
        auto work = [plugin = plugin_, context = context_, hook = std::move(next.second),
                     name](const ToolExecutor::Cancelled&, ToolExecutor::Clock::time_point) {
            try {
                hook(*plugin->plugin, *context);
            } catch (const std::exception& e) {
                logging::forCall(context->callId(), context->tenantId())
                    .warn("plugin {}: {} threw: {}", plugin->path, name, e.what());
            } catch (...) {
                logging::forCall(context->callId(), context->tenantId())
                    .warn("plugin {}: {} threw", plugin->path, name);
            }
            return ToolExecutor::Result{"{}", sdk::loader::ToolOutcome::Ok};
        };
        // 0 submitting, 1 submitted, 2 settled: whichever of submit() and the callback comes second
        // continues the chain.
        auto step = std::make_shared<std::atomic<int>>(0);
        executor_->submit(
            context_->tenantId(), hookTimeout(), std::move(work),
            [self = shared_from_this(), name, step](const ToolExecutor::Result& result, std::chrono::nanoseconds) {
                self->hookSettled(name, result);
                if (step->exchange(2) == 1) self->runHooks();
            });
        if (step->exchange(1) != 2) return;
    }
}

void PluginCallTools::hookSettled(const char* name, const ToolExecutor::Result& result) {
    using sdk::loader::ToolOutcome;
    if (result.outcome == ToolOutcome::Ok) return;
    const std::string& tenant = context_->tenantId();
    auto log = logging::forCall(context_->callId(), tenant);
    if (result.outcome == ToolOutcome::Timeout) {
        log.warn("plugin {}: {} overran its {} ms deadline; this call's next hooks run without waiting for it",
                 plugin_->path, name, hookTimeout().count());
        record([&] { metrics_.increment(metrics::name::kPluginHookTimeouts, {{"tenant", tenant}, {"hook", name}}); });
    } else if (ToolExecutor::isRefusal(result)) {
        log.warn("plugin {}: {} dropped: the tenant's tool queue is full", plugin_->path, name);
        record([&] { metrics_.increment(metrics::name::kToolRefused, {{"tenant", tenant}}); });
    } else { // shutting down: the rest of the call's hooks go too, in one line
        std::size_t dropped = 0;
        {
            std::lock_guard lock(hooksMutex_);
            dropped = hooks_.size();
            hooks_.clear();
        }
        log.info("plugin {}: {} and {} later hook(s) of this call not run: {}", plugin_->path, name, dropped,
                 result.json);
    }
}

} // namespace sideband::plugins
