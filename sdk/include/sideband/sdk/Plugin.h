#pragma once

// The Sideband plugin interface: everything a plugin author implements and everything the host
// gives a plugin. It is the ABI between the host and a tenant's `.so`; any change to a declaration
// in this file bumps SIDEBAND_SDK_ABI_VERSION. The host refuses a plugin whose build fingerprint
// (Fingerprint.h: ABI version, toolchain, Poco, Boost, headers' hash) differs from its own, with
// one log line naming the plugin file and every field that differs.
//
// JSON is Poco::JSON (Debian's libpoco-dev): tool parameters, arguments and results are
// Poco::JSON::Object. Plugins and host must be built with the same toolchain and Poco (Debian 12:
// GCC 12 / libstdc++ 6, Poco 1.11), since C++ types cross the boundary.
//
// Threads. The host calls
//   - the factory and tools()            once per load, on the thread that loads the plugin;
//   - callTool()                         on a tool pool thread, concurrently for different calls and
//                                        for several tool calls of one call: implementations must be
//                                        thread-safe;
//   - decorateCall()                     on a tool pool thread while the call rings: the host waits
//                                        at most 2 s, then answers with the undecorated setup; keep it
//                                        fast (no network);
//   - onCallStarted/onTranscript/onCallEnded  on a tool pool thread, in order per call, each with a
//                                        deadline (5 s at most); after a hook overran it, the next one
//                                        may start while it still runs.
//   With isolation (the default), all of this happens in the tenant's own sandboxed process
//   (sideband-plugin-runner): one plugin object per tenant, its own working directory
//   (SIDEBAND_STATE_DIR), no host secrets in its environment, no fork/exec, network only if the
//   tenant allows it. A tool still running 5 s past its deadline ends that process (it is restarted).
//
// Ownership.
//   - The host owns the Plugin object (it deletes it through the virtual destructor while the
//     library is still loaded), every CallContext, CallActions and Logger. References the host
//     passes are valid for the duration of the call they are passed to; do not keep them.
//   - Whatever a plugin returns (tool definitions, results) is copied by the host into its own
//     memory before the library can be unloaded; the plugin may keep no pointer into host memory
//     either.
//   - A plugin object lives as long as the host uses that build of the library: across many calls
//     and tenants. Per-tenant state is keyed by CallContext::tenantId(), per-call state by callId().

#include "sideband/sdk/Abi.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sideband::sdk {

// One tool as the model sees it (an OpenAI Realtime "function" tool).
struct ToolDefinition {
    std::string name;                   // [A-Za-z0-9_-]{1,64}, unique within the plugin
    std::string description;            // what the model reads to decide when to call it
    Poco::JSON::Object::Ptr parameters; // JSON Schema of the arguments: {"type":"object","properties":{...}}
};

// One invocation of a tool by the model.
class ToolCall {
public:
    using Clock = std::chrono::steady_clock;

    ToolCall(std::string name, Poco::JSON::Object::Ptr arguments, Clock::time_point deadline,
             std::shared_ptr<const std::atomic<bool>> cancelled, std::string callId = {})
        : name_(std::move(name)), arguments_(arguments ? arguments : Poco::JSON::Object::Ptr(new Poco::JSON::Object)),
          deadline_(deadline), cancelled_(std::move(cancelled)), callId_(std::move(callId)) {}

    const std::string& name() const { return name_; }
    // The Realtime function call's call_id ("call_..."): the same id if the host runs this call
    // again (after a runner restart, say). Key side effects on it to make them idempotent. Empty
    // when the host has none (the SDK harness without one).
    const std::string& callId() const { return callId_; }
    // The model's arguments, parsed; never null (an empty object when the model sent none).
    const Poco::JSON::Object& arguments() const { return *arguments_; }
    // When the host stops waiting: after it, the model has been told the tool timed out and
    // whatever this call returns is dropped.
    Clock::time_point deadline() const { return deadline_; }
    std::chrono::milliseconds remaining() const {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
        return left.count() > 0 ? left : std::chrono::milliseconds(0);
    }
    // Becomes true when the deadline passes or the host shuts down: long-running tools should poll
    // it and return early.
    bool cancelled() const { return cancelled_ && cancelled_->load(); }

    // Argument helpers: throw std::invalid_argument with a message the model can act on.
    std::string requireString(const std::string& key) const {
        if (!arguments_->has(key) || !arguments_->get(key).isString())
            throw std::invalid_argument("missing string argument '" + key + "'");
        return arguments_->getValue<std::string>(key);
    }
    std::string optionalString(const std::string& key, const std::string& fallback = {}) const {
        if (!arguments_->has(key) || arguments_->isNull(key)) return fallback;
        if (!arguments_->get(key).isString()) throw std::invalid_argument("argument '" + key + "' must be a string");
        return arguments_->getValue<std::string>(key);
    }

private:
    std::string name_;
    Poco::JSON::Object::Ptr arguments_;
    Clock::time_point deadline_;
    std::shared_ptr<const std::atomic<bool>> cancelled_;
    std::string callId_;
};

// What a plugin may do to its call. Implemented by the host over OpenAI's call control (REFER,
// hangup). Both throw std::exception with a readable message on failure.
class CallActions {
public:
    virtual ~CallActions() = default;
    // Transfers the caller; `target` is a "tel:+E164" or "sip:user@host" URI.
    virtual void transfer(const std::string& target) = 0;
    virtual void hangup() = 0;
};

// The host's log, one line per message, tagged with tenant, call and plugin file.
class Logger {
public:
    virtual ~Logger() = default;
    virtual void debug(const std::string& message) = 0;
    virtual void info(const std::string& message) = 0;
    virtual void warn(const std::string& message) = 0;
    virtual void error(const std::string& message) = 0;
};

// The call a tool or hook runs for.
class CallContext {
public:
    virtual ~CallContext() = default;
    virtual const std::string& callId() const = 0;
    virtual const std::string& tenantId() const = 0;
    virtual const std::string& caller() const = 0; // E.164 where the SIP headers allow, else as received
    virtual const std::string& dialed() const = 0; // the tenant's number that was called
    // The tenant's whole config object (model, voice, tool_timeout_ms, transfer_target, ...).
    virtual const Poco::JSON::Object& tenantConfig() const = 0;
    // tenantConfig()["plugin_config"], or an empty object: the plugin's own settings.
    virtual const Poco::JSON::Object& pluginConfig() const = 0;
    virtual Logger& log() = 0;
    virtual CallActions& actions() = 0;
};

// What the agent is told for one call; decorateCall() may rewrite both.
struct CallSetup {
    std::string instructions; // the system prompt
    std::string greeting;     // the first thing the agent says
};

struct TranscriptLine {
    std::string speaker; // "caller" or "agent"
    std::string text;
};

// The interface a plugin implements. Only tools() and callTool() are required.
class Plugin {
public:
    virtual ~Plugin() = default;

    // The tools this plugin offers, called once after load. The host validates the list (unique
    // names, object schemas) and refuses the plugin if it is invalid.
    virtual std::vector<ToolDefinition> tools() const = 0;

    // Runs one tool. Returns a JSON object for the model (null is invalid output). Throwing
    // std::exception tells the model {"error": what()}; a business "no" (slot taken, ...) is better
    // returned as a structured result the model can explain.
    virtual Poco::JSON::Object::Ptr callTool(CallContext& call, const ToolCall& tool) = 0;

    // Optional hooks.
    virtual void decorateCall(CallContext& /*call*/, CallSetup& /*setup*/) {}
    virtual void onCallStarted(CallContext& /*call*/) {}
    virtual void onTranscript(CallContext& /*call*/, const TranscriptLine& /*line*/) {}
    virtual void onCallEnded(CallContext& /*call*/, const std::string& /*reason*/) {}
};

} // namespace sideband::sdk
