#pragma once

#include "tenants/TenantStore.h"

#include <Poco/JSON/Object.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sideband::plugins {

// Who is on the call; given to the plugin through the SDK's call context.
struct CallInfo {
    std::string callId;
    std::string tenantId;
    std::string caller;
    std::string dialed;
};

// What a tool may do to its call. The host implements it over OpenAI's REST call control
// (refer / hangup). Methods throw std::runtime_error with a readable message on failure.
class CallActions {
public:
    virtual ~CallActions() = default;
    virtual void transfer(const std::string& targetUri) = 0; // tel: or sip: URI
    virtual void hangup() = 0;
    // True once transfer() or hangup() succeeded: the call is leaving, so the model is not asked
    // to speak again after the tool's output.
    virtual bool endedCall() const { return false; }
};

// One tool as the model sees it (session.update / accept "tools" entries).
struct ToolSpec {
    std::string name;
    std::string description;
    Poco::JSON::Object::Ptr parameters; // JSON Schema
};

// One function call from the model.
struct ToolInvocation {
    std::string name;
    std::string argumentsJson;
    // The Realtime function call's call_id: the plugin sees it (sdk::ToolCall::callId()) so a side
    // effect retried under the same id can be made idempotent.
    std::string functionCallId;
};

// The tools of one call, bound to one plugin instance. Holding this object keeps the plugin's
// library loaded (a reload swaps in a new build for new calls only).
class CallTools {
public:
    virtual ~CallTools() = default;

    virtual std::vector<ToolSpec> tools() const = 0;

    using Done = std::function<void(const std::string& output)>;

    // Runs a tool off the calling thread, on a bounded pool, with the tenant's deadline.
    // `done` is called exactly once with the output string for the model: the tool's JSON result,
    // or {"error":"..."} for an unknown tool, an exception, a timeout or invalid output.
    // Never throws; never blocks the caller.
    virtual void invoke(const ToolInvocation& invocation, Done done) = 0;
    void invoke(const std::string& toolName, const std::string& argumentsJson, Done done) {
        invoke(ToolInvocation{toolName, argumentsJson, {}}, std::move(done));
    }

    // Optional plugin hooks; defaults do nothing. Exceptions from the plugin are contained.
    virtual void decorateInstructions(tenants::Instructions&) {}
    virtual void callStarted() {}
    virtual void transcript(const tenants::TranscriptLine&) {}
    virtual void callEnded(const std::string& /*reason*/) {}
};

class ToolBuildError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Builds a call's tools from its tenant's plugin. Throws ToolBuildError with one actionable line
// (plugin missing, not a library, ABI mismatch, factory threw, invalid tool list, ...); the call is
// then accepted without tools (product spec, step 8).
class ToolBuilder {
public:
    virtual ~ToolBuilder() = default;
    virtual std::shared_ptr<CallTools> build(const tenants::TenantConfig& tenant, const CallInfo& call,
                                             std::shared_ptr<CallActions> actions) = 0;
};

} // namespace sideband::plugins
