#pragma once

#include "calls/CallLedger.h"
#include "calls/SessionLauncher.h"
#include "core/Clock.h"
#include "metrics/MetricsRegistry.h"
#include "openai/CallControl.h"
#include "plugins/CallTools.h"
#include "tenants/TenantStore.h"

#include <optional>
#include <string>

namespace sideband::calls {

struct PipelineOptions {
    int maxConcurrentCalls = 100;
    std::optional<int> maxConcurrentCallsPerTenant; // default: the global limit
    std::string downtimePrompt;
    std::string downtimeGreeting;
    int rejectStatusCapacity = 486; // Busy Here: the caller's side may retry
    int rejectStatusOther = 603;    // Decline
    // Draining: answer new calls 503 so OpenAI redelivers them to another replica, rather than reject them.
    bool redeliverWhileDraining = false;
    std::string defaultModel = "gpt-realtime";
};

// Built-in downtime instructions, used when DOWNTIME_PROMPT / DOWNTIME_GREETING are unset.
extern const char* const kDefaultDowntimePrompt;
extern const char* const kDefaultDowntimeGreeting;

// The collaborators of the pipeline, each a seam with a fake in the tests.
struct PipelineServices {
    tenants::TenantStore& store;
    CallLedger& ledger;
    openai::CallControl& callControl;
    plugins::ToolBuilder* toolBuilder; // null: calls run without tools
    SessionLauncher& sessions;
    metrics::MetricsRegistry& metrics;
    const Clock& clock;
};

// The steps a call takes whichever way it arrives (a SIP call's webhook, a browser's WebRTC offer):
// its limits, instructions and config with the spec's downtime fallback, its tools, its record.

// The tenant's own call limit when its config sets one, else the default per-tenant limit.
CallLedger::Limits limitsFor(const PipelineOptions& options, const std::optional<tenants::TenantConfig>& config);

// Fills `call.instructions`, `call.config` and `call.fallback` for `call.tenantId` from what the
// store answered for the config (`config` or `configError`) and now for the instructions: the
// downtime instructions when the store is unavailable. Returns the spec's reason to refuse the call
// instead (tenant_not_configured, instructions_missing, tenant_config_parse_error).
std::optional<std::string> prepareCall(const PipelineServices& services, const PipelineOptions& options,
                                       AcceptedCall& call, std::optional<tenants::TenantConfig> config,
                                       const std::optional<tenants::StoreError>& configError);

// The call's tools from its tenant's plugin, instructions decorated by it. A build failure is
// logged and the call goes on without tools (spec step 8).
void buildTools(const PipelineServices& services, AcceptedCall& call);

// A failed REST call's status label (sideband_accept_failures_total): its HTTP status, or why there
// was none (timeout, error).
std::string restStatusLabel(const openai::RestResult& result);

void saveCallRecord(const PipelineServices& services, const tenants::CallRecord& record);
void countStoreError(const PipelineServices& services, const std::string& callId, const std::string& tenantId,
                     const char* operation, const tenants::StoreError& error);

} // namespace sideband::calls
