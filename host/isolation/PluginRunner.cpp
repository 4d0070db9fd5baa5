#include "isolation/PluginRunner.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "plugins/ToolExecutor.h"
#include "sideband/sdk/loader/PluginLibrary.h"

#include <Poco/JSON/Array.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StreamSocketImpl.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sideband::isolation {
namespace {

constexpr const char* kRestarting = R"({"error":"the tool's plugin stopped unexpectedly; the tool did not complete"})";

Poco::JSON::Object::Ptr message(const char* type) {
    Poco::JSON::Object::Ptr m = new Poco::JSON::Object;
    m->set("type", type);
    return m;
}

std::string describeExit(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
    return "stopped";
}

// The runner's whole environment: nothing of the host's (API key, webhook secret, database URL).
std::vector<std::string> runnerEnvironment(const std::string& workDir, const std::string& tenant) {
    // Two malloc arenas: each arena reserves 64 MiB of address space, which the runner's
    // RLIMIT_AS counts. TMPDIR: /tmp is outside the sandbox.
    std::vector<std::string> env{"PATH=/usr/local/bin:/usr/bin:/bin",
                                 "LANG=C.UTF-8",
                                 "HOME=" + workDir,
                                 "TMPDIR=" + workDir,
                                 "MALLOC_ARENA_MAX=2",
                                 "SIDEBAND_STATE_DIR=" + workDir,
                                 "SIDEBAND_TENANT=" + tenant};
    if (const char* tz = ::getenv("TZ")) env.push_back(std::string("TZ=") + tz);
    return env;
}

std::string parentDirectory(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

const char* stateName(RunnerState state) {
    switch (state) {
    case RunnerState::Idle:
        return "idle";
    case RunnerState::Starting:
        return "starting";
    case RunnerState::Ready:
        return "ready";
    case RunnerState::Backoff:
        return "restarting";
    case RunnerState::Failed:
        return "failed";
    case RunnerState::Stopped:
        return "stopped";
    }
    return "unknown";
}

PluginRunner::PluginRunner(io::EventLoop& loop, RunnerSettings settings, Plugin plugin,
                           metrics::MetricsRegistry& metrics, Offload offload)
    : loop_(loop), settings_(std::move(settings)), plugin_(std::move(plugin)), metrics_(metrics),
      offload_(std::move(offload)) {}

PluginRunner::~PluginRunner() = default; // a live process holds self_, so this runs only after it is gone

void PluginRunner::post(std::function<void()> task) {
    loop_.post(std::move(task));
}

PluginRunner::FileIdentity PluginRunner::identity() const {
    struct stat st {};
    if (::stat(plugin_.path.c_str(), &st) != 0) return {};
    return {static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino),
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

RunnerState PluginRunner::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

pid_t PluginRunner::pid() const {
    std::lock_guard lock(mutex_);
    return pidShared_;
}

std::uint64_t PluginRunner::restarts() const {
    std::lock_guard lock(mutex_);
    return restarts_;
}

void PluginRunner::setState(RunnerState state, const std::string& reason, const std::string& why) {
    {
        std::lock_guard lock(mutex_);
        state_ = state;
        if (state == RunnerState::Failed) {
            failReason_ = reason;
            failMessage_ = why;
            failedFile_ = identity();
        }
        pidShared_ = pid_;
    }
    changed_.notify_all();
    metrics_.set(metrics::name::kPluginRunnerUp, {{"tenant", plugin_.tenant}}, state == RunnerState::Ready ? 1 : 0);
}

void PluginRunner::ensureStarted() {
    std::lock_guard lock(mutex_);
    if (state_ == RunnerState::Failed && !(identity() == failedFile_)) {
        spdlog::info("tenant {}: plugin {} changed since it failed; starting it again", plugin_.tenant, plugin_.path);
        state_ = RunnerState::Idle;
    }
    if (state_ != RunnerState::Idle) return;
    state_ = RunnerState::Starting;
    post([self = shared_from_this()] { self->start(); });
}

std::vector<plugins::ToolSpec> PluginRunner::waitReady() {
    ensureStarted();
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, settings_.startWait, [&] {
        return state_ == RunnerState::Ready || state_ == RunnerState::Failed || state_ == RunnerState::Stopped;
    });
    switch (state_) {
    case RunnerState::Ready:
        return tools_;
    case RunnerState::Failed:
        throw RunnerUnavailable(failReason_, "tenant " + plugin_.tenant + ": plugin " + plugin_.path +
                                                 " failed in its runner (" + failReason_ + "): " + failMessage_ +
                                                 "; it stays failed until the file changes or the host reloads");
    default:
        throw RunnerUnavailable("not_ready", "tenant " + plugin_.tenant + ": plugin runner is " + stateName(state_) +
                                                 " after " + std::to_string(settings_.startWait.count()) + " ms");
    }
}

void PluginRunner::start() {
    loop_.assertInLoop();
    if (stream_ || retired_) return;
    const std::string workDir = settings_.workRoot + "/" + plugin_.tenant;
    ::mkdir(settings_.workRoot.c_str(), 0700);
    ::mkdir(workDir.c_str(), 0700);

    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        setState(RunnerState::Failed, "spawn_failed", std::string("socketpair: ") + std::strerror(errno));
        return;
    }
    // The child's end must not be fd 3 already: dup2(3, 3) would keep its close-on-exec flag.
    const int childFd = ::fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
    ::close(fds[1]);

    std::vector<std::string> args{settings_.runnerPath,
                                  "--fd",
                                  "3",
                                  "--tenant",
                                  plugin_.tenant,
                                  "--plugin",
                                  plugin_.path,
                                  "--work-dir",
                                  workDir,
                                  "--read-only",
                                  parentDirectory(plugin_.path),
                                  "--address-space-mb",
                                  std::to_string(settings_.addressSpaceMb),
                                  "--cpu-seconds",
                                  std::to_string(settings_.cpuSeconds),
                                  "--open-files",
                                  std::to_string(settings_.openFiles),
                                  "--tool-threads",
                                  std::to_string(settings_.toolThreads),
                                  "--stuck-grace-ms",
                                  std::to_string(settings_.stuckGrace.count())};
    if (!plugin_.sha256Pin.empty()) args.insert(args.end(), {"--sha256", plugin_.sha256Pin});
    if (plugin_.allowNetwork) args.push_back("--allow-network");
    if (!settings_.sandbox) args.push_back("--no-sandbox");
    const auto env = runnerEnvironment(workDir, plugin_.tenant);
    std::vector<char*> argv, envp;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : env)
        envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, childFd, 3);
    posix_spawn_file_actions_addclosefrom_np(&actions, 4); // no listener, session or store fd leaks in
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // The host may block signals in its threads; the runner starts with a clean mask.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    const int spawned =
        ::posix_spawn(&pid, settings_.runnerPath.c_str(), &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(childFd);
    if (spawned != 0) {
        ::close(fds[0]);
        logging::forCall({}, plugin_.tenant)
            .error("plugin runner {} could not be started: {}", settings_.runnerPath, std::strerror(spawned));
        setState(RunnerState::Failed, "spawn_failed", std::strerror(spawned));
        return;
    }
    pid_ = pid;
    reader_ = protocol::FrameReader{};
    self_ = shared_from_this();
    if (settings_.afterSpawnForTest) settings_.afterSpawnForTest(fds[0]);
    // Starting, with its deadline, before the socket is opened: open() reads what the runner has
    // already written, and a quick runner's ready (or load_failed) is handled right there.
    setState(RunnerState::Starting);
    startTimer_ = loop_.runAfter(settings_.startTimeout, [this] {
        startTimer_ = 0;
        logging::forCall({}, plugin_.tenant)
            .error("plugin {} did not finish loading within {} ms; its runner is stopped", plugin_.path,
                   settings_.startTimeout.count());
        reap(true);
        setState(RunnerState::Failed, "load_timeout",
                 "no answer within " + std::to_string(settings_.startTimeout.count()) + " ms");
        metrics_.increment(metrics::name::kPluginLoadFailures,
                           {{"tenant", plugin_.tenant}, {"reason", "load_timeout"}});
    });
    Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(fds[0]));
    stream_ = io::Stream::create(loop_, socket, io::Stream::Tls::None, nullptr, *this);
    stream_->open();
}

void PluginRunner::send(const Poco::JSON::Object& m) {
    loop_.assertInLoop();
    if (stream_ && stream_->isOpen()) stream_->write(protocol::encode(m));
}

void PluginRunner::onData(io::Stream&, std::string& inbox) {
    try {
        while (stream_) { // a frame may end the process (load_failed): the rest is not read
            auto m = reader_.next(inbox);
            if (!m) break;
            dispatch(*m);
        }
        reader_.compact(inbox);
    } catch (const std::exception& e) {
        reader_.compact(inbox);
        logging::forCall({}, plugin_.tenant).error("plugin runner sent a broken frame ({}); it is restarted", e.what());
        lost("protocol_error");
    }
}

void PluginRunner::onReady(const Poco::JSON::Object& m) {
    if (protocol::requireInt(m, "protocol") != protocol::kVersion)
        throw protocol::ProtocolError("runner speaks protocol " + std::to_string(protocol::requireInt(m, "protocol")));
    std::vector<plugins::ToolSpec> tools;
    if (auto list = m.getArray("tools"))
        for (std::size_t i = 0; i < list->size(); ++i) {
            auto tool = list->getObject(static_cast<unsigned>(i));
            if (!tool) continue;
            tools.push_back({protocol::requireString(*tool, "name"), protocol::optionalString(*tool, "description"),
                             tool->getObject("parameters")});
        }
    if (startTimer_) loop_.cancel(startTimer_), startTimer_ = 0;
    readyAt_ = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        tools_ = std::move(tools);
    }
    logging::forCall({}, plugin_.tenant)
        .info("plugin runner ready: pid={} plugin={} tools={} sandbox: {}", pid_, plugin_.path, tools_.size(),
              protocol::optionalString(m, "sandbox"));
    // Calls this runner served before a restart are known to the new process again.
    for (const auto& [id, call] : calls_)
        stream_->write(call.frame);
    setState(RunnerState::Ready);
    schedulePing();
}

void PluginRunner::dispatch(const Poco::JSON::Object& m) {
    const std::string type = protocol::requireString(m, "type");
    if (type == "tool_result" || type == "hook_done") {
        auto found = pending_.find(protocol::requireInt(m, "id"));
        if (found == pending_.end()) return; // already timed out: a late answer is dropped
        auto pending = std::move(found->second);
        pending_.erase(found);
        settled(pending);
        if (pending.timer) loop_.cancel(pending.timer);
        if (type == "tool_result") {
            const std::string outcome = protocol::optionalString(m, "outcome");
            // The outcome names are the SDK's; anything else is reported as an error.
            static const char* kKnown[] = {"ok", "error", "invalid_output", "unknown_tool", "bad_arguments", "timeout"};
            const char* label = "error";
            for (const char* known : kKnown)
                if (outcome == known) label = known;
            pending.done(protocol::optionalString(m, "output"), label);
        } else {
            pending.done(json::stringify(Poco::Dynamic::Var(Poco::JSON::Object::Ptr(new Poco::JSON::Object(m)))), "ok");
        }
    } else if (type == "log") {
        const std::string level = protocol::optionalString(m, "level");
        const std::string callId = protocol::optionalString(m, "call"); // the log holds a view of it
        const auto log = logging::forCall(callId, plugin_.tenant);
        const std::string text = protocol::optionalString(m, "message");
        if (level == "error")
            log.error("plugin: {}", text);
        else if (level == "warn")
            log.warn("plugin: {}", text);
        else if (level == "debug")
            log.debug("plugin: {}", text);
        else
            log.info("plugin: {}", text);
    } else if (type == "action") {
        const auto id = protocol::requireInt(m, "id");
        const std::string callId = protocol::requireString(m, "call");
        const std::string action = protocol::requireString(m, "action");
        const std::string target = protocol::optionalString(m, "target");
        auto call = calls_.find(callId);
        auto context = call == calls_.end() ? nullptr : call->second.context;
        auto answer = [weak = weak_from_this(), id](bool ok, const std::string& error) {
            if (auto self = weak.lock())
                self->post([self, id, ok, error] {
                    auto reply = message("action_result");
                    reply->set("id", id);
                    reply->set("ok", ok);
                    if (!ok) reply->set("error", error);
                    self->send(*reply);
                });
        };
        if (!context || (action != "transfer" && action != "hangup")) {
            answer(false, "no such call or action");
            return;
        }
        // A REST call: never on the loop. The context checks the target and logs, as in-process.
        offload_([context, action, target, answer] {
            try {
                if (action == "transfer")
                    context->actions().transfer(target);
                else
                    context->actions().hangup();
                answer(true, {});
            } catch (const std::exception& e) {
                answer(false, e.what());
            }
        });
    } else if (type == "pong") {
        if (protocol::requireInt(m, "id") == pingOutstanding_) {
            pingOutstanding_ = 0;
            if (pingDeadline_) loop_.cancel(pingDeadline_), pingDeadline_ = 0;
        }
    } else if (type == "ready") {
        onReady(m);
    } else if (type == "load_failed") {
        if (startTimer_) loop_.cancel(startTimer_), startTimer_ = 0;
        const std::string reason = protocol::optionalString(m, "reason");
        const std::string why = protocol::optionalString(m, "message");
        logging::forCall({}, plugin_.tenant)
            .error("plugin load failed: tenant={} plugin={} reason={}: {}", plugin_.tenant, plugin_.path, reason, why);
        metrics_.increment(metrics::name::kPluginLoadFailures, {{"tenant", plugin_.tenant}, {"reason", reason}});
        reap(true);
        setState(RunnerState::Failed, reason, why);
    }
}

void PluginRunner::schedulePing() {
    pingTimer_ = loop_.runAfter(settings_.pingInterval, [this] {
        pingTimer_ = 0;
        if (!stream_) return;
        pingOutstanding_ = nextId_++;
        auto ping = message("ping");
        ping->set("id", pingOutstanding_);
        send(*ping);
        pingDeadline_ = loop_.runAfter(settings_.pingTimeout, [this] {
            pingDeadline_ = 0;
            logging::forCall({}, plugin_.tenant)
                .error("plugin runner pid={} did not answer a ping within {} ms; it is restarted", pid_,
                       settings_.pingTimeout.count());
            lost("unresponsive");
        });
        schedulePing();
    });
}

void PluginRunner::failPending(const std::string& why) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, p] : pending) {
        settled(p);
        if (p.timer) loop_.cancel(p.timer);
        p.done(why, "error");
    }
}

// Ends the process (SIGKILL unless it has exited) and collects it, so no zombie is left.
void PluginRunner::reap(bool kill) {
    for (auto* timer : {&startTimer_, &pingTimer_, &pingDeadline_})
        if (*timer) loop_.cancel(*timer), *timer = 0;
    pingOutstanding_ = 0;
    if (stream_) {
        auto stream = std::move(stream_);
        stream->abort("stopped");
    }
    if (pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (kill) ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
        pid_ = -1;
    }
    if (self_) post([keep = std::move(self_)] {}); // released after this call returns
}

// The process went away (crash, exit, protocol error, no pong): fail what it had, then restart.
void PluginRunner::lost(const std::string& reasonIn) {
    std::string reason = reasonIn;
    if (pid_ > 0) {
        int status = 0;
        // Its socket closes a moment before the kernel reports the exit: wait for it briefly, so the
        // restart is counted under the real cause (signal_11, exit_0, ...). Never long: a runner that
        // closed its socket but lives on is killed by reap().
        pid_t exited = 0;
        for (int i = 0; i < 50 && (exited = ::waitpid(pid_, &status, WNOHANG)) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (exited == pid_) {
            reason = WIFSIGNALED(status) ? std::string("signal_") + std::to_string(WTERMSIG(status))
                                         : "exit_" + std::to_string(WEXITSTATUS(status));
            logging::forCall({}, plugin_.tenant)
                .error("plugin runner pid={} {} (plugin {})", pid_, describeExit(status), plugin_.path);
            pid_ = -1;
        }
    }
    const bool wasReady = state() == RunnerState::Ready;
    reap(true);
    failPending(kRestarting);
    if (!wasReady) {
        // It died while loading (an abort in a constructor, say): failed until the file changes.
        if (state() == RunnerState::Starting) {
            logging::forCall({}, plugin_.tenant)
                .error("plugin load failed: tenant={} plugin={} reason=crashed_at_load ({})", plugin_.tenant,
                       plugin_.path, reason);
            metrics_.increment(metrics::name::kPluginLoadFailures,
                               {{"tenant", plugin_.tenant}, {"reason", "crashed_at_load"}});
            setState(RunnerState::Failed, "crashed_at_load", "the runner " + reason + " while loading the plugin");
        }
        return;
    }
    if (retired_) {
        setState(RunnerState::Stopped);
        return;
    }
    metrics_.increment(metrics::name::kPluginRunnerRestarts, {{"tenant", plugin_.tenant}, {"reason", reason}});
    {
        std::lock_guard lock(mutex_);
        ++restarts_;
    }
    // Up a minute or more: this is a new incident, not a crash loop.
    if (std::chrono::steady_clock::now() - readyAt_ > std::chrono::minutes(1)) consecutiveCrashes_ = 0;
    auto delay = settings_.backoffMin * (1 << std::min(consecutiveCrashes_, 16));
    if (delay > settings_.backoffMax) delay = settings_.backoffMax;
    ++consecutiveCrashes_;
    logging::forCall({}, plugin_.tenant)
        .warn("plugin runner restarts in {} ms (crash {} in a row)", delay.count(), consecutiveCrashes_);
    setState(RunnerState::Backoff);
    self_ = shared_from_this(); // the backoff timer needs us
    backoffTimer_ = loop_.runAfter(delay, [this] {
        backoffTimer_ = 0;
        auto keep = std::move(self_);
        if (retired_) {
            setState(RunnerState::Stopped);
            return;
        }
        start();
    });
}

void PluginRunner::onClosed(io::Stream&, const std::string& reason) {
    if (!stream_) return; // we closed it ourselves
    stream_.reset();
    lost(reason == "eof" ? "exited" : reason);
}

void PluginRunner::openCall(std::shared_ptr<sdk::CallContext> context) {
    auto open = message("call_open");
    open->set("call", context->callId());
    open->set("tenant", context->tenantId());
    open->set("caller", context->caller());
    open->set("dialed", context->dialed());
    open->set("config", Poco::JSON::Object::Ptr(new Poco::JSON::Object(context->tenantConfig())));
    post([self = shared_from_this(), callId = context->callId(), frame = protocol::encode(*open),
          context = std::move(context)]() mutable {
        self->calls_[callId] = {frame, std::move(context)};
        if (self->stream_ && self->state() == RunnerState::Ready) self->stream_->write(frame);
    });
}

void PluginRunner::closeCall(const std::string& callId) {
    post([self = shared_from_this(), callId] {
        self->calls_.erase(callId);
        auto close = message("call_close");
        close->set("call", callId);
        self->send(*close);
        self->closeIfRetiredAndIdle();
    });
}

void PluginRunner::runTool(const std::string& callId, const plugins::ToolInvocation& invocation,
                           std::chrono::milliseconds timeout,
                           std::function<void(const std::string&, const char*)> done) {
    post([self = shared_from_this(), callId, invocation, timeout, done = std::move(done)]() mutable {
        if (!self->stream_ || self->state() != RunnerState::Ready) {
            done(R"({"error":"the tool's plugin is restarting; the tool did not run"})", "error");
            return;
        }
        // One tenant's bound, as in-process: its runner's workers plus a queue, then refusals.
        if (self->toolsInFlight_ >= self->settings_.toolThreads + self->settings_.toolQueue) {
            self->metrics_.increment(metrics::name::kToolRefused, {{"tenant", self->plugin_.tenant}});
            done(plugins::ToolExecutor::refusal().json, "refused");
            return;
        }
        const auto id = self->nextId_++;
        auto tool = message("tool");
        tool->set("id", id);
        tool->set("call", callId);
        tool->set("name", invocation.name);
        tool->set("arguments", invocation.argumentsJson);
        tool->set("function_call_id", invocation.functionCallId);
        tool->set("timeout_ms", static_cast<std::int64_t>(timeout.count()));
        auto& pending = self->pending_[id];
        pending.done = std::move(done);
        pending.tool = true;
        ++self->toolsInFlight_;
        // The host's own deadline: the model is told on time even if the runner is wedged.
        pending.timer = self->loop_.runAfter(timeout, [self = self.get(), id, timeout] {
            auto found = self->pending_.find(id);
            if (found == self->pending_.end()) return;
            auto late = std::move(found->second);
            self->pending_.erase(found);
            self->settled(late);
            auto cancel = message("cancel");
            cancel->set("id", id);
            self->send(*cancel);
            // The in-process executor's words, so the model reads the same in both modes.
            late.done(sdk::loader::errorOutput("tool timed out after " + std::to_string(timeout.count()) + " ms"),
                      "timeout");
        });
        self->send(*tool);
    });
}

bool PluginRunner::decorate(const std::string& callId, tenants::Instructions& instructions) {
    auto answer = std::make_shared<std::promise<std::string>>();
    auto future = answer->get_future();
    post([self = shared_from_this(), callId, answer, prompt = instructions.prompt, greeting = instructions.greeting] {
        if (!self->stream_ || self->state() != RunnerState::Ready) return answer->set_value({});
        const auto id = self->nextId_++;
        auto hook = message("hook");
        hook->set("id", id);
        hook->set("call", callId);
        hook->set("hook", "decorate");
        hook->set("timeout_ms", static_cast<std::int64_t>(self->settings_.hookTimeout.count()));
        hook->set("instructions", prompt);
        hook->set("greeting", greeting);
        self->pending_[id].done = [answer](const std::string& reply, const char*) { answer->set_value(reply); };
        self->pending_[id].timer = self->loop_.runAfter(self->settings_.hookTimeout, [self = self.get(), id] {
            auto found = self->pending_.find(id);
            if (found == self->pending_.end()) return;
            auto late = std::move(found->second);
            self->pending_.erase(found);
            late.done({}, "timeout");
        });
        self->send(*hook);
    });
    if (future.wait_for(settings_.hookTimeout + std::chrono::milliseconds(500)) != std::future_status::ready)
        return false;
    const auto reply = json::parse(future.get());
    if (reply.type() != typeid(Poco::JSON::Object::Ptr)) return false;
    auto done = reply.extract<Poco::JSON::Object::Ptr>();
    if (done->has("error")) {
        logging::forCall(callId, plugin_.tenant)
            .warn("plugin decorateCall failed: {}", protocol::optionalString(*done, "error"));
        return false;
    }
    instructions.prompt = protocol::optionalString(*done, "instructions");
    instructions.greeting = protocol::optionalString(*done, "greeting");
    return true;
}

void PluginRunner::hook(const std::string& callId, const std::string& name, Poco::JSON::Object::Ptr fields) {
    post([self = shared_from_this(), callId, name, fields] {
        if (!self->stream_ || self->state() != RunnerState::Ready) return;
        Poco::JSON::Object::Ptr hook = fields ? fields : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
        hook->set("type", "hook");
        hook->set("id", self->nextId_++); // fire and forget: the answer finds no pending entry
        hook->set("call", callId);
        hook->set("hook", name);
        hook->set("timeout_ms", static_cast<std::int64_t>(self->settings_.hookDeadline.count()));
        self->send(*hook);
    });
}

void PluginRunner::closeIfRetiredAndIdle() {
    if (!retired_ || !calls_.empty()) return;
    if (backoffTimer_) {
        loop_.cancel(backoffTimer_), backoffTimer_ = 0;
        post([keep = std::move(self_)] {});
    }
    if (stream_)
        logging::forCall({}, plugin_.tenant).info("retired plugin runner pid={} stopped: its last call ended", pid_);
    reap(true);
    failPending(kRestarting);
    setState(RunnerState::Stopped);
}

void PluginRunner::retire() {
    post([self = shared_from_this()] {
        self->retired_ = true;
        self->closeIfRetiredAndIdle();
    });
}

void PluginRunner::stop() {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    post([self = shared_from_this(), done] {
        self->retired_ = true;
        if (self->backoffTimer_) {
            self->loop_.cancel(self->backoffTimer_), self->backoffTimer_ = 0;
            self->post([keep = std::move(self->self_)] {});
        }
        self->reap(true);
        self->failPending(R"({"error":"the host is shutting down; the tool did not complete"})");
        self->setState(RunnerState::Stopped);
        done->set_value();
    });
    if (loop_.inLoopThread()) return;
    future.wait_for(std::chrono::seconds(5));
}

} // namespace sideband::isolation
