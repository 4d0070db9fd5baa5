// sideband-plugin-runner: one tenant's plugin in its own process, started and supervised by the
// host (host/isolation/PluginRunner). It sandboxes itself before the plugin's first byte of code
// runs, loads the plugin with the SDK's loader, then serves the host's frames on the inherited
// socketpair (RunnerProtocol.h). A crash here ends only this tenant's runner.
//
//   sideband-plugin-runner --fd 3 --tenant ID --plugin /abs/file.so --work-dir DIR [--sha256 HEX]
//       [--read-only PATH]... [--allow-network] [--address-space-mb N] [--cpu-seconds N]
//       [--open-files N] [--processes N] [--tool-threads N] [--stuck-grace-ms N] [--no-sandbox]

#include "isolation/RunnerProtocol.h"
#include "isolation/Sandbox.h"
#include "plugins/ToolExecutor.h"
#include "sideband/sdk/loader/PluginLibrary.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <list>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace sideband;
using namespace std::chrono_literals;
namespace proto = isolation::protocol;
using Clock = std::chrono::steady_clock;

struct Options {
    int fd = 3;
    std::string tenant;
    std::string plugin;
    std::string sha256;
    std::string workDir;
    std::vector<std::string> readOnly;
    bool allowNetwork = false;
    bool sandbox = true;
    std::uint64_t addressSpaceMb = 1024;
    std::uint64_t cpuSeconds = 0;
    std::uint64_t openFiles = 256;
    std::uint64_t processes = 0;
    std::size_t toolThreads = 4;
    std::chrono::milliseconds stuckGrace{5000};
};

[[noreturn]] void usage(const std::string& problem) {
    std::cerr << "sideband-plugin-runner: " << problem
              << "\n(started by sideband-host for one tenant's plugin; see docs/plugins.md)\n";
    std::exit(64);
}

Options parseOptions(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(flag + " needs a value");
            return argv[++i];
        };
        auto number = [&]() -> std::uint64_t {
            const std::string text = value();
            char* end = nullptr;
            const auto parsed = std::strtoull(text.c_str(), &end, 10);
            if (text.empty() || *end) usage(flag + " needs a number, not '" + text + "'");
            return parsed;
        };
        if (flag == "--fd")
            o.fd = static_cast<int>(number());
        else if (flag == "--tenant")
            o.tenant = value();
        else if (flag == "--plugin")
            o.plugin = value();
        else if (flag == "--sha256")
            o.sha256 = value();
        else if (flag == "--work-dir")
            o.workDir = value();
        else if (flag == "--read-only")
            o.readOnly.push_back(value());
        else if (flag == "--allow-network")
            o.allowNetwork = true;
        else if (flag == "--no-sandbox")
            o.sandbox = false;
        else if (flag == "--address-space-mb")
            o.addressSpaceMb = number();
        else if (flag == "--cpu-seconds")
            o.cpuSeconds = number();
        else if (flag == "--open-files")
            o.openFiles = number();
        else if (flag == "--processes")
            o.processes = number();
        else if (flag == "--tool-threads")
            o.toolThreads = std::max<std::uint64_t>(1, number());
        else if (flag == "--stuck-grace-ms")
            o.stuckGrace = std::chrono::milliseconds(number());
        else
            usage("unknown option " + flag);
    }
    if (o.plugin.empty() || o.workDir.empty() || o.tenant.empty())
        usage("--tenant, --plugin and --work-dir are required");
    return o;
}

Poco::JSON::Object::Ptr message(const char* type) {
    Poco::JSON::Object::Ptr m = new Poco::JSON::Object;
    m->set("type", type);
    return m;
}

class Runner;

// What the plugin sees of one call; actions and log lines travel to the host as frames.
class RunnerCall : public sdk::CallContext,
                   public std::enable_shared_from_this<RunnerCall>,
                   private sdk::CallActions,
                   private sdk::Logger {
public:
    RunnerCall(Runner& runner, const Poco::JSON::Object& open);

    const std::string& callId() const override { return callId_; }
    const std::string& tenantId() const override { return tenantId_; }
    const std::string& caller() const override { return caller_; }
    const std::string& dialed() const override { return dialed_; }
    const Poco::JSON::Object& tenantConfig() const override { return *config_; }
    const Poco::JSON::Object& pluginConfig() const override {
        // Made on first use when the config has none: most calls never ask, and an empty
        // Poco::JSON::Object costs ~700 bytes (its key deque), per call held.
        std::call_once(pluginConfigOnce_, [this] {
            if (!pluginConfig_) pluginConfig_ = new Poco::JSON::Object;
        });
        return *pluginConfig_;
    }
    sdk::Logger& log() override { return *this; }
    sdk::CallActions& actions() override { return *this; }

    // Hooks of one call run one at a time, in order, on the tool pool.
    void postHook(std::function<void()> hook);

private:
    void transfer(const std::string& target) override;
    void hangup() override;
    void debug(const std::string& m) override { line("debug", m); }
    void info(const std::string& m) override { line("info", m); }
    void warn(const std::string& m) override { line("warn", m); }
    void error(const std::string& m) override { line("error", m); }
    void line(const char* level, const std::string& text);
    void drainHooks();

    Runner& runner_;
    std::string callId_, tenantId_, caller_, dialed_;
    Poco::JSON::Object::Ptr config_;
    mutable std::once_flag pluginConfigOnce_;
    mutable Poco::JSON::Object::Ptr pluginConfig_; // null until asked, when the config has no plugin_config
    std::mutex hooksMutex_;
    // A list allocates nothing while empty (a deque takes ~600 bytes at once): a thousand calls
    // held with no hook pending cost nothing here.
    std::list<std::function<void()>> hooks_;
    bool draining_ = false;
};

class Runner {
public:
    explicit Runner(Options options) : options_(std::move(options)) {}

    int run();
    void send(const Poco::JSON::Object& m);
    void log(const std::string& callId, const char* level, const std::string& text);
    // Asks the host to transfer or hang up `callId`; waits for its answer. Throws on refusal.
    void action(const std::string& callId, const std::string& action, const std::string& target);
    plugins::ToolExecutor& executor() { return *executor_; }
    sdk::Plugin& plugin() { return *plugin_.plugin; }

private:
    struct Job {
        Clock::time_point deadline;
        std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
        bool running = false;
        std::string tool;
    };

    bool load();
    void serve();
    void dispatch(const Poco::JSON::Object& m);
    void runTool(const Poco::JSON::Object& m);
    void runHook(const Poco::JSON::Object& m);
    std::shared_ptr<RunnerCall> findCall(const std::string& callId);
    void watchStuckTools();

    Options options_;
    sdk::loader::LoadedPlugin plugin_;
    std::unique_ptr<plugins::ToolExecutor> executor_;
    std::mutex writeMutex_;

    std::mutex callsMutex_;
    std::map<std::string, std::shared_ptr<RunnerCall>> calls_;

    std::mutex jobsMutex_;
    std::map<std::int64_t, Job> jobs_;

    std::mutex actionsMutex_;
    std::map<std::int64_t, std::promise<std::string>> actions_; // empty string: ok; else the error
    std::int64_t nextAction_ = 1;
};

RunnerCall::RunnerCall(Runner& runner, const Poco::JSON::Object& open)
    : runner_(runner), callId_(proto::requireString(open, "call")), tenantId_(proto::optionalString(open, "tenant")),
      caller_(proto::optionalString(open, "caller")), dialed_(proto::optionalString(open, "dialed")) {
    config_ = open.has("config") && open.getObject("config") ? open.getObject("config")
                                                             : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
    if (config_->has("plugin_config")) pluginConfig_ = config_->getObject("plugin_config");
}

void RunnerCall::transfer(const std::string& target) {
    runner_.action(callId_, "transfer", target);
}
void RunnerCall::hangup() {
    runner_.action(callId_, "hangup", {});
}
void RunnerCall::line(const char* level, const std::string& text) {
    runner_.log(callId_, level, text);
}

void RunnerCall::postHook(std::function<void()> hook) {
    {
        std::lock_guard lock(hooksMutex_);
        hooks_.push_back(std::move(hook));
        if (draining_) return;
        draining_ = true;
    }
    // The drain holds the call: its last hook may hold the last other reference (call_close came).
    runner_.executor().post([self = shared_from_this()] { self->drainHooks(); });
}

void RunnerCall::drainHooks() {
    for (;;) {
        std::function<void()> hook;
        {
            std::lock_guard lock(hooksMutex_);
            if (hooks_.empty()) {
                draining_ = false;
                return;
            }
            hook = std::move(hooks_.front());
            hooks_.pop_front();
        }
        hook();
    }
}

void Runner::send(const Poco::JSON::Object& m) {
    const std::string frame = proto::encode(m);
    std::lock_guard lock(writeMutex_);
    std::size_t sent = 0;
    while (sent < frame.size()) {
        const ssize_t n = ::send(options_.fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0); // the host is gone: nothing left to serve
        sent += static_cast<std::size_t>(n);
    }
}

void Runner::log(const std::string& callId, const char* level, const std::string& text) {
    auto m = message("log");
    m->set("call", callId);
    m->set("level", level);
    m->set("message", text.size() > 2048 ? text.substr(0, 2048) + "..." : text);
    send(*m);
}

void Runner::action(const std::string& callId, const std::string& action, const std::string& target) {
    std::future<std::string> answer;
    std::int64_t id;
    {
        std::lock_guard lock(actionsMutex_);
        id = nextAction_++;
        answer = actions_[id].get_future();
    }
    auto m = message("action");
    m->set("id", id);
    m->set("call", callId);
    m->set("action", action);
    if (!target.empty()) m->set("target", target);
    send(*m);
    // The host bounds its REST call; this only guards against a host that never answers.
    if (answer.wait_for(60s) != std::future_status::ready) {
        std::lock_guard lock(actionsMutex_);
        actions_.erase(id);
        throw std::runtime_error(action + ": no answer from the host");
    }
    const std::string error = answer.get();
    if (!error.empty()) throw std::runtime_error(error);
}

bool Runner::load() {
    auto fail = [this](const std::string& reason, const std::string& why) {
        auto failed = message("load_failed");
        failed->set("protocol", proto::kVersion);
        failed->set("reason", reason);
        failed->set("message", why);
        send(*failed);
        return false;
    };
    auto ready = message("ready");
    try {
        if (options_.sandbox) {
            isolation::SandboxPolicy policy;
            policy.workDir = options_.workDir;
            policy.readOnlyPaths = isolation::defaultReadOnlyPaths();
            for (const auto& path : options_.readOnly)
                policy.readOnlyPaths.push_back(path);
            policy.allowNetwork = options_.allowNetwork;
            policy.addressSpaceBytes = options_.addressSpaceMb << 20;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
            policy.addressSpaceBytes = 0; // the sanitizer's shadow memory alone is terabytes of address space
#endif
            policy.cpuSeconds = options_.cpuSeconds;
            policy.openFiles = options_.openFiles;
            policy.processes = options_.processes;
            ready->set("sandbox", isolation::applySandbox(policy).summary());
        } else {
            ready->set("sandbox", "off");
        }
    } catch (const std::exception& e) {
        return fail("sandbox", std::string("the sandbox could not be applied: ") + e.what());
    }
    try {
        plugin_ = sdk::loader::loadPlugin(options_.plugin, {options_.sha256, options_.workDir + "/.plugin-copies"});
    } catch (const sdk::loader::LoadError& e) {
        return fail(sdk::loader::reasonName(e.reason()), e.what());
    } catch (const std::exception& e) {
        return fail("file_missing", e.what());
    }
    executor_ = std::make_unique<plugins::ToolExecutor>(options_.toolThreads);
    Poco::JSON::Array::Ptr tools = new Poco::JSON::Array;
    for (const auto& tool : plugin_.tools) {
        Poco::JSON::Object::Ptr spec = new Poco::JSON::Object;
        spec->set("name", tool.name);
        spec->set("description", tool.description);
        spec->set("parameters", tool.parameters);
        tools->add(spec);
    }
    ready->set("protocol", proto::kVersion);
    ready->set("tools", tools);
    ready->set("sha256", plugin_.sha256);
    send(*ready);
    return true;
}

std::shared_ptr<RunnerCall> Runner::findCall(const std::string& callId) {
    std::lock_guard lock(callsMutex_);
    auto found = calls_.find(callId);
    return found == calls_.end() ? nullptr : found->second;
}

void Runner::runTool(const Poco::JSON::Object& m) {
    const auto id = proto::requireInt(m, "id");
    const std::string name = proto::requireString(m, "name");
    auto call = findCall(proto::requireString(m, "call"));
    const auto timeout = std::chrono::milliseconds(std::max<std::int64_t>(1, proto::requireInt(m, "timeout_ms")));
    auto reply = [this, id](const sdk::loader::ToolOutput& output) {
        auto result = message("tool_result");
        result->set("id", id);
        result->set("output", output.json);
        result->set("outcome", sdk::loader::outcomeName(output.outcome));
        send(*result);
    };
    if (!call) {
        reply({sdk::loader::errorOutput("the call is not open in the plugin runner"), sdk::loader::ToolOutcome::Error});
        return;
    }
    std::shared_ptr<std::atomic<bool>> cancelled;
    {
        std::lock_guard lock(jobsMutex_);
        auto& job = jobs_[id];
        job.deadline = Clock::now() + timeout;
        job.tool = name;
        cancelled = job.cancelled;
    }
    auto work = [this, id, call, name, cancelled, arguments = proto::optionalString(m, "arguments"),
                 functionCallId = proto::optionalString(m, "function_call_id")](const plugins::ToolExecutor::Cancelled&,
                                                                                Clock::time_point deadline) {
        {
            std::lock_guard lock(jobsMutex_);
            if (auto job = jobs_.find(id); job != jobs_.end()) job->second.running = true;
        }
        sdk::loader::ToolOutput output;
        auto parsed = sdk::loader::parseArguments(arguments);
        if (!parsed) {
            output = {sdk::loader::errorOutput("arguments for '" + name + "' are not a JSON object"),
                      sdk::loader::ToolOutcome::BadArguments};
        } else {
            sdk::ToolCall tool(name, parsed, deadline, cancelled, functionCallId);
            output = sdk::loader::runTool(*plugin_.plugin, plugin_.tools, *call, tool);
        }
        std::lock_guard lock(jobsMutex_);
        jobs_.erase(id);
        return output;
    };
    executor_->submit(
        timeout, std::move(work),
        [this, id, cancelled, reply](const plugins::ToolExecutor::Result& result, std::chrono::nanoseconds) {
            if (result.outcome == sdk::loader::ToolOutcome::Timeout) {
                cancelled->store(true);
                std::lock_guard lock(jobsMutex_);
                if (auto job = jobs_.find(id); job != jobs_.end() && !job->second.running)
                    jobs_.erase(job); // never started: nothing to watch
            }
            reply(result);
        });
}

void Runner::runHook(const Poco::JSON::Object& m) {
    const auto id = proto::requireInt(m, "id");
    const std::string hook = proto::requireString(m, "hook");
    auto call = findCall(proto::requireString(m, "call"));
    if (!call) return;
    Poco::JSON::Object::Ptr copy = new Poco::JSON::Object(m);
    const auto deadline = std::chrono::milliseconds(m.has("timeout_ms") ? proto::requireInt(m, "timeout_ms") : 5000);
    auto run = [this, id, hook, call, copy, deadline] {
        {
            // Watched like a tool: a hook stuck past its deadline and the grace ends the runner.
            std::lock_guard lock(jobsMutex_);
            auto& job = jobs_[id];
            job.deadline = Clock::now() + deadline;
            job.running = true;
            job.tool = "hook " + hook;
        }
        auto done = message("hook_done");
        done->set("id", id);
        try {
            if (hook == "decorate") {
                sdk::CallSetup setup{proto::optionalString(*copy, "instructions"),
                                     proto::optionalString(*copy, "greeting")};
                plugin_.plugin->decorateCall(*call, setup);
                done->set("instructions", setup.instructions);
                done->set("greeting", setup.greeting);
            } else if (hook == "started") {
                plugin_.plugin->onCallStarted(*call);
            } else if (hook == "transcript") {
                plugin_.plugin->onTranscript(
                    *call, {proto::optionalString(*copy, "speaker"), proto::optionalString(*copy, "text")});
            } else if (hook == "ended") {
                plugin_.plugin->onCallEnded(*call, proto::optionalString(*copy, "reason"));
            }
        } catch (const std::exception& e) {
            done->set("error", std::string(e.what()));
        } catch (...) {
            done->set("error", "the hook threw a non-standard exception");
        }
        {
            std::lock_guard lock(jobsMutex_);
            jobs_.erase(id);
        }
        send(*done);
    };
    // decorate must answer before the call is accepted: it does not wait behind the call's other hooks.
    if (hook == "decorate")
        executor_->post(std::move(run));
    else
        call->postHook(std::move(run));
}

void Runner::dispatch(const Poco::JSON::Object& m) {
    const std::string type = proto::requireString(m, "type");
    if (type == "tool") {
        runTool(m);
    } else if (type == "hook") {
        runHook(m);
    } else if (type == "call_open") {
        auto call = std::make_shared<RunnerCall>(*this, m);
        std::lock_guard lock(callsMutex_);
        calls_[call->callId()] = call;
    } else if (type == "call_close") {
        std::lock_guard lock(callsMutex_);
        calls_.erase(proto::requireString(m, "call")); // tools still running hold their own reference
    } else if (type == "cancel") {
        std::lock_guard lock(jobsMutex_);
        if (auto job = jobs_.find(proto::requireInt(m, "id")); job != jobs_.end()) job->second.cancelled->store(true);
    } else if (type == "action_result") {
        std::lock_guard lock(actionsMutex_);
        auto waiting = actions_.find(proto::requireInt(m, "id"));
        if (waiting == actions_.end()) return;
        const bool ok = m.has("ok") && m.get("ok").isBoolean() && m.getValue<bool>("ok");
        waiting->second.set_value(ok ? std::string() : proto::optionalString(m, "error"));
        actions_.erase(waiting);
    } else if (type == "ping") {
        auto pong = message("pong");
        pong->set("id", proto::requireInt(m, "id"));
        send(*pong);
    }
    // Unknown types are ignored: a newer host may send more than this runner knows.
}

// A tool that ignores its cancellation and runs far past its deadline keeps a worker forever (C++
// code cannot be stopped from outside). The host has already told the model it timed out; the
// runner ends itself so the supervisor starts a fresh one with every worker free.
void Runner::watchStuckTools() {
    std::thread([this] {
        for (;;) {
            std::this_thread::sleep_for(200ms);
            std::string stuck;
            {
                std::lock_guard lock(jobsMutex_);
                for (const auto& [id, job] : jobs_)
                    if (job.running && Clock::now() > job.deadline + options_.stuckGrace) stuck = job.tool;
            }
            if (stuck.empty()) continue;
            log({}, "error",
                "tool " + stuck + " is still running " + std::to_string(options_.stuckGrace.count()) +
                    " ms after its deadline; the runner exits so a fresh one serves the next calls");
            _exit(70);
        }
    }).detach();
}

void Runner::serve() {
    std::string buffer;
    proto::FrameReader reader;
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::recv(options_.fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; // the host closed its end: stop
        buffer.append(chunk, static_cast<std::size_t>(n));
        while (auto m = reader.next(buffer)) {
            try {
                dispatch(*m);
            } catch (const proto::ProtocolError& e) {
                log({}, "error", std::string("runner: ignored a malformed frame: ") + e.what());
            }
        }
        reader.compact(buffer);
    }
}

int Runner::run() {
    if (!load()) return 3;
    watchStuckTools();
    try {
        serve();
    } catch (const proto::ProtocolError& e) {
        std::cerr << "sideband-plugin-runner: tenant " << options_.tenant << ": " << e.what() << "\n";
        return 65;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    // Dies with the host: a runner never outlives the process that supervises it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::signal(SIGPIPE, SIG_IGN);
    Runner runner(parseOptions(argc, argv));
    const int status = runner.run();
    // Plugin objects are not destroyed here: tool threads may still be inside them.
    std::cout.flush();
    _exit(status);
}
