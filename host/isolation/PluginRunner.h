#pragma once

#include "io/EventLoop.h"
#include "io/Stream.h"
#include "isolation/RunnerProtocol.h"
#include "metrics/MetricsRegistry.h"
#include "plugins/CallTools.h"
#include "sideband/sdk/Plugin.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sys/types.h>

namespace sideband::isolation {

// How runners are started and watched (SIDEBAND_PLUGIN_* settings, docs/plugins.md).
struct RunnerSettings {
    std::string runnerPath; // the sideband-plugin-runner executable
    std::string workRoot;   // each tenant's runner works in <workRoot>/<tenant> (created 0700)
    std::uint64_t addressSpaceMb = 1024;
    std::uint64_t cpuSeconds = 3600; // per runner process; over it, the runner is restarted
    std::uint64_t openFiles = 256;
    std::size_t toolThreads = 4;                   // per runner: one tenant's concurrent tools
    std::size_t toolQueue = 64;                    // tool calls waiting beyond those; more are refused at once
    bool sandbox = true;                           // off only for debugging a plugin (never in production)
    std::chrono::milliseconds startTimeout{10000}; // load must finish within this, or the plugin is failed
    std::chrono::milliseconds startWait{3000};     // how long a ringing call waits for a starting runner
    std::chrono::milliseconds hookTimeout{2000};   // decorate (on the accept path) waits at most this
    std::chrono::milliseconds hookDeadline{5000};  // other hooks: past it (+ stuckGrace) the runner is replaced
    std::chrono::milliseconds stuckGrace{5000};    // a tool past deadline + this ends its runner
    std::chrono::milliseconds pingInterval{5000};
    std::chrono::milliseconds pingTimeout{10000};
    std::chrono::milliseconds backoffMin{250};
    std::chrono::milliseconds backoffMax{30000};
    // Tests only: runs on the loop once a runner is spawned, before its socket is first read, with the
    // host's end of that socket (a test waits there for the runner's first frame to be already queued).
    std::function<void(int fd)> afterSpawnForTest;
};

// What the host knows about one plugin's runner, for logs, metrics and tests.
enum class RunnerState { Idle, Starting, Ready, Backoff, Failed, Stopped };
const char* stateName(RunnerState state);

// Thrown by waitReady(): the call is accepted without tools (product spec step 8).
class RunnerUnavailable : public plugins::ToolBuildError {
public:
    RunnerUnavailable(std::string reason, const std::string& message)
        : ToolBuildError(message), reason_(std::move(reason)) {}
    const std::string& reason() const { return reason_; }

private:
    std::string reason_;
};

// One tenant's plugin in its own sandboxed process, supervised. The host end of the socketpair is
// owned by `loop`: only that thread reads, writes or closes it; every other thread posts.
//
// - Started on first use; `startTimeout` bounds the load.
// - A load failure, a crash while loading, or a load timeout leaves the plugin Failed until its file
//   changes (size, mtime or inode) or the host reloads (retire + a new runner).
// - A crash or an unanswered ping after load: in-flight tools get an error output at once, the
//   process is restarted with exponential backoff, and the calls it served are opened again in the
//   new process. Counted in sideband_plugin_runner_restarts_total{tenant,reason}.
class PluginRunner : public std::enable_shared_from_this<PluginRunner>, private io::StreamHandler {
public:
    using Offload = std::function<void(std::function<void()>)>; // runs blocking work off the loop

    struct Plugin {
        std::string tenant;
        std::string path; // resolved, inside the plugin directory
        std::string sha256Pin;
        bool allowNetwork = false;
    };

    PluginRunner(io::EventLoop& loop, RunnerSettings settings, Plugin plugin, metrics::MetricsRegistry& metrics,
                 Offload offload);
    ~PluginRunner() override;

    // Any thread: starts the process unless it runs, is starting or has failed.
    void ensureStarted();
    // Any thread. Starts the runner if needed and waits up to startWait for it: its tools, or
    // RunnerUnavailable (failed, starting too long, restarting).
    std::vector<plugins::ToolSpec> waitReady();

    // Any thread.
    // The context's actions() carry out the plugin's transfer and hang-up requests.
    void openCall(std::shared_ptr<sdk::CallContext> context);
    void closeCall(const std::string& callId);
    void runTool(const std::string& callId, const plugins::ToolInvocation& invocation,
                 std::chrono::milliseconds timeout,
                 std::function<void(const std::string& output, const char* outcome)> done);
    // decorate: waits up to hookTimeout; false (instructions unchanged) on timeout or error.
    bool decorate(const std::string& callId, tenants::Instructions& instructions);
    void hook(const std::string& callId, const std::string& name, Poco::JSON::Object::Ptr fields);

    // No new calls: the process stops once its last call closes (a reload's old build).
    void retire();
    // Kills the process now; pending tools get an error output. Waits until the loop has done it.
    void stop();

    RunnerState state() const;
    pid_t pid() const;
    const std::string& tenant() const { return plugin_.tenant; }
    const Plugin& plugin() const { return plugin_; }
    std::uint64_t restarts() const;
    // Tool calls sent and not answered yet (any thread).
    std::size_t toolsInFlight() const { return toolsInFlight_.load(); }

private:
    struct Pending {
        std::function<void(const std::string&, const char*)> done;
        io::EventLoop::TimerId timer = 0;
        bool tool = false; // counted in toolsInFlight_
    };
    void settled(const Pending& pending) {
        if (pending.tool) --toolsInFlight_;
    }
    struct OpenCall {
        std::string frame; // call_open, sent again to a restarted process
        std::shared_ptr<sdk::CallContext> context;
    };
    struct FileIdentity {
        std::uint64_t size = 0, inode = 0;
        std::int64_t mtimeNs = 0;
        bool operator==(const FileIdentity& o) const {
            return size == o.size && inode == o.inode && mtimeNs == o.mtimeNs;
        }
    };

    // Loop thread only.
    void start();
    void send(const Poco::JSON::Object& message);
    void onReady(const Poco::JSON::Object& message);
    void dispatch(const Poco::JSON::Object& message);
    void lost(const std::string& reason);
    void failPending(const std::string& why);
    void reap(bool kill);
    void schedulePing();
    void closeIfRetiredAndIdle();
    void setState(RunnerState state, const std::string& reason = {}, const std::string& message = {});

    void onData(io::Stream& stream, std::string& inbox) override;
    void onClosed(io::Stream& stream, const std::string& reason) override;

    FileIdentity identity() const;
    void post(std::function<void()> task);

    io::EventLoop& loop_;
    const RunnerSettings settings_;
    const Plugin plugin_;
    metrics::MetricsRegistry& metrics_;
    Offload offload_;

    // Loop thread only.
    std::shared_ptr<io::Stream> stream_;
    protocol::FrameReader reader_;
    pid_t pid_ = -1;
    std::map<std::int64_t, Pending> pending_;
    std::map<std::string, OpenCall> calls_;
    std::int64_t nextId_ = 1;
    std::atomic<std::size_t> toolsInFlight_{0}; // written on the loop only
    io::EventLoop::TimerId startTimer_ = 0, pingTimer_ = 0, backoffTimer_ = 0;
    std::int64_t pingOutstanding_ = 0;
    io::EventLoop::TimerId pingDeadline_ = 0;
    std::chrono::steady_clock::time_point readyAt_{};
    int consecutiveCrashes_ = 0;
    bool retired_ = false;
    std::shared_ptr<PluginRunner> self_; // alive while a process is

    // Shared with callers' threads.
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    RunnerState state_ = RunnerState::Idle;
    std::string failReason_, failMessage_;
    FileIdentity failedFile_;
    std::vector<plugins::ToolSpec> tools_;
    std::uint64_t restarts_ = 0;
    pid_t pidShared_ = -1;
};

} // namespace sideband::isolation
