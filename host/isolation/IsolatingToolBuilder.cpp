#include "isolation/IsolatingToolBuilder.h"

#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "plugins/PluginCallTools.h"
#include "sideband/sdk/loader/PluginLibrary.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sideband::isolation {
namespace {

bool tenantAllowsNetwork(const tenants::TenantConfig& tenant) {
    return tenant.settings && tenant.settings->has("plugin_network") &&
           tenant.settings->get("plugin_network").isBoolean() && tenant.settings->getValue<bool>("plugin_network");
}

// One call's tools, served by its tenant's runner. Holding it keeps that runner (and its build of
// the plugin) serving the call, also across a reload.
class IsolatedCallTools : public plugins::CallTools {
public:
    IsolatedCallTools(std::shared_ptr<PluginRunner> runner, std::vector<plugins::ToolSpec> tools,
                      std::shared_ptr<plugins::HostCallContext> context, metrics::MetricsRegistry& metrics,
                      std::chrono::milliseconds timeout)
        : runner_(std::move(runner)), tools_(std::move(tools)), context_(std::move(context)), metrics_(metrics),
          timeout_(timeout) {
        runner_->openCall(context_);
    }
    ~IsolatedCallTools() override { runner_->closeCall(context_->callId()); }

    std::vector<plugins::ToolSpec> tools() const override { return tools_; }

    using CallTools::invoke;
    void invoke(const plugins::ToolInvocation& invocation, Done done) override {
        bool known = false;
        for (const auto& tool : tools_)
            known = known || tool.name == invocation.name;
        if (!known) {
            record(metrics_, context_->tenantId(), "unknown", "unknown_tool", std::chrono::nanoseconds(0));
            done(sdk::loader::errorOutput("unknown tool '" + invocation.name + "'"));
            return;
        }
        const auto started = std::chrono::steady_clock::now();
        runner_->runTool(context_->callId(), invocation, timeout_,
                         // The call may have released its tools by the time the answer comes: no `this`.
                         [&metrics = metrics_, keep = context_, name = invocation.name, started,
                          done = std::move(done)](const std::string& output, const char* outcome) {
                             record(metrics, keep->tenantId(), name, outcome,
                                    std::chrono::steady_clock::now() - started);
                             if (std::string(outcome) != "ok")
                                 logging::forCall(keep->callId(), keep->tenantId())
                                     .warn("tool {} failed ({}) in the plugin runner: {}", name, outcome, output);
                             if (done) done(output);
                         });
    }

    void decorateInstructions(tenants::Instructions& instructions) override {
        runner_->decorate(context_->callId(), instructions);
    }
    void callStarted() override { runner_->hook(context_->callId(), "started", nullptr); }
    void transcript(const tenants::TranscriptLine& line) override {
        Poco::JSON::Object::Ptr fields = new Poco::JSON::Object;
        fields->set("speaker", line.speaker);
        fields->set("text", line.text);
        runner_->hook(context_->callId(), "transcript", fields);
    }
    void callEnded(const std::string& reason) override {
        Poco::JSON::Object::Ptr fields = new Poco::JSON::Object;
        fields->set("reason", reason);
        runner_->hook(context_->callId(), "ended", fields);
    }

private:
    static void record(metrics::MetricsRegistry& metrics, const std::string& tenant, const std::string& tool,
                       const char* outcome, std::chrono::nanoseconds elapsed) {
        try {
            metrics.increment(metrics::name::kToolCalls, {{"tenant", tenant}, {"tool", tool}, {"outcome", outcome}});
            metrics.observe(metrics::name::kToolSeconds, std::chrono::duration<double>(elapsed).count(),
                            {{"tenant", tenant}, {"tool", tool}});
        } catch (const std::exception& e) {
            spdlog::warn("tool metrics not recorded: {}", e.what());
        }
    }

    std::shared_ptr<PluginRunner> runner_;
    std::vector<plugins::ToolSpec> tools_;
    std::shared_ptr<plugins::HostCallContext> context_;
    metrics::MetricsRegistry& metrics_;
    std::chrono::milliseconds timeout_;
};

} // namespace

IsolatingToolBuilder::IsolatingToolBuilder(plugins::PluginToolBuilder& inProcess, RunnerSettings settings,
                                           bool isolateByDefault, metrics::MetricsRegistry& metrics)
    : inProcess_(inProcess), settings_(std::move(settings)), isolateByDefault_(isolateByDefault), metrics_(metrics) {
    loop_.start();
}

IsolatingToolBuilder::~IsolatingToolBuilder() {
    stop();
    loop_.stop();
}

bool IsolatingToolBuilder::isolated(const tenants::TenantConfig& tenant) const {
    if (tenant.settings && tenant.settings->has("isolation") && tenant.settings->get("isolation").isString()) {
        const auto mode = tenant.settings->getValue<std::string>("isolation");
        if (mode == "in_process") return false;
        if (mode == "process") return true;
        spdlog::warn("tenant {}: isolation \"{}\" is neither \"process\" nor \"in_process\"; using {}", tenant.tenantId,
                     mode, isolateByDefault_ ? "process" : "in_process");
    }
    return isolateByDefault_;
}

std::vector<plugins::ToolExecutor::TenantLoad> IsolatingToolBuilder::load() const {
    std::vector<plugins::ToolExecutor::TenantLoad> loads;
    std::lock_guard lock(mutex_);
    for (const auto& [tenant, runner] : runners_) {
        const std::size_t inFlight = runner->toolsInFlight();
        const std::size_t workers = settings_.toolThreads;
        loads.push_back({tenant, std::min(inFlight, workers), inFlight > workers ? inFlight - workers : 0, 0});
    }
    return loads;
}

std::shared_ptr<PluginRunner> IsolatingToolBuilder::runnerFor(const std::string& tenantId) const {
    std::lock_guard lock(mutex_);
    auto found = runners_.find(tenantId);
    return found == runners_.end() ? nullptr : found->second;
}

std::shared_ptr<PluginRunner> IsolatingToolBuilder::runner(const tenants::TenantConfig& tenant) {
    PluginRunner::Plugin plugin{tenant.tenantId, inProcess_.loader().resolve(tenant.plugin), tenant.pluginSha256,
                                tenantAllowsNetwork(tenant)};
    std::shared_ptr<PluginRunner> retired;
    std::lock_guard lock(mutex_);
    auto& current = runners_[tenant.tenantId];
    if (current) {
        const auto& had = current->plugin();
        if (had.path == plugin.path && had.sha256Pin == plugin.sha256Pin && had.allowNetwork == plugin.allowNetwork)
            return current;
        // The tenant now names another file, pin or network rule: a new runner for new calls.
        retired = current;
    }
    auto executor = inProcess_.executor();
    current =
        std::make_shared<PluginRunner>(loop_, settings_, std::move(plugin), metrics_,
                                       [executor](std::function<void()> task) { executor->post(std::move(task)); });
    all_.erase(std::remove_if(all_.begin(), all_.end(), [](const auto& weak) { return weak.expired(); }), all_.end());
    all_.push_back(current);
    if (retired) retired->retire();
    return current;
}

std::shared_ptr<plugins::CallTools> IsolatingToolBuilder::build(const tenants::TenantConfig& tenant,
                                                                const plugins::CallInfo& call,
                                                                std::shared_ptr<plugins::CallActions> actions) {
    if (tenant.plugin.empty() || !isolated(tenant)) return inProcess_.build(tenant, call, std::move(actions));
    std::shared_ptr<PluginRunner> runner;
    try {
        runner = this->runner(tenant);
    } catch (const sdk::loader::LoadError& e) { // outside the plugin directory, missing
        logging::forCall(call.callId, tenant.tenantId)
            .error("plugin load failed: tenant={} plugin={} reason={}: {}", tenant.tenantId, tenant.plugin,
                   sdk::loader::reasonName(e.reason()), e.what());
        metrics_.increment(metrics::name::kPluginLoadFailures,
                           {{"tenant", tenant.tenantId}, {"reason", sdk::loader::reasonName(e.reason())}});
        throw plugins::PluginLoadError(e.reason(),
                                       "tenant " + tenant.tenantId + ": plugin " + tenant.plugin + ": " + e.what());
    }
    auto tools = runner->waitReady(); // throws RunnerUnavailable: the call goes on without tools
    auto context = std::make_shared<plugins::HostCallContext>(tenant, call, std::move(actions), runner->plugin().path);
    return std::make_shared<IsolatedCallTools>(std::move(runner), std::move(tools), std::move(context), metrics_,
                                               plugins::PluginToolBuilder::toolTimeout(tenant));
}

void IsolatingToolBuilder::prestart(const std::vector<tenants::TenantConfig>& tenants) {
    for (const auto& tenant : tenants) {
        if (tenant.plugin.empty() || !isolated(tenant)) continue;
        try {
            runner(tenant)->ensureStarted();
        } catch (const std::exception& e) {
            spdlog::warn("tenant {}: plugin runner not started: {}", tenant.tenantId, e.what());
        }
    }
}

void IsolatingToolBuilder::reloadAll() {
    std::map<std::string, std::shared_ptr<PluginRunner>> old;
    {
        std::lock_guard lock(mutex_);
        old.swap(runners_);
    }
    for (auto& [tenant, runner] : old)
        runner->retire();
    inProcess_.reloadAll();
}

void IsolatingToolBuilder::stop() {
    std::vector<std::weak_ptr<PluginRunner>> all;
    {
        std::lock_guard lock(mutex_);
        runners_.clear();
        all.swap(all_);
    }
    // Retired runners too: a reload's old build may still serve calls.
    for (auto& weak : all)
        if (auto runner = weak.lock()) runner->stop();
}

} // namespace sideband::isolation
