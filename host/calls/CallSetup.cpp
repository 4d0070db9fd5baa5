#include "calls/CallSetup.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"

namespace sideband::calls {

const char* const kDefaultDowntimePrompt =
    "You are a friendly phone assistant. Our systems are briefly unavailable. Apologise, take the caller's name, "
    "number and a short message, and tell them someone will call back soon. Do not promise anything else.";
const char* const kDefaultDowntimeGreeting =
    "Greet the caller, apologise that our systems are briefly unavailable, and offer to take a message.";

CallLedger::Limits limitsFor(const PipelineOptions& options, const std::optional<tenants::TenantConfig>& config) {
    CallLedger::Limits limits;
    limits.global = options.maxConcurrentCalls;
    limits.tenant = options.maxConcurrentCallsPerTenant.value_or(options.maxConcurrentCalls);
    if (config && config->callLimit) limits.tenant = *config->callLimit;
    return limits;
}

std::optional<std::string> prepareCall(const PipelineServices& services, const PipelineOptions& options,
                                       AcceptedCall& call, std::optional<tenants::TenantConfig> config,
                                       const std::optional<tenants::StoreError>& configError) {
    const auto downtime = [&] {
        call.instructions = {options.downtimePrompt, options.downtimeGreeting};
        call.fallback = true;
    };
    try {
        call.instructions = services.store.instructions(call.tenantId);
    } catch (const tenants::StoreError& e) {
        switch (e.code()) {
        case tenants::StoreErrorCode::TenantNotConfigured:
            return "tenant_not_configured";
        case tenants::StoreErrorCode::InstructionsMissing:
            return "instructions_missing";
        default:
            countStoreError(services, call.callId, call.tenantId, "instructions", e);
            downtime();
        }
    }
    if (configError) {
        switch (configError->code()) {
        case tenants::StoreErrorCode::TenantNotConfigured:
            return "tenant_not_configured";
        case tenants::StoreErrorCode::ConfigParseError:
            logging::forCall(call.callId, call.tenantId).warn("config does not parse: {}", configError->what());
            return "tenant_config_parse_error";
        default:
            countStoreError(services, call.callId, call.tenantId, "config", *configError);
            config = tenants::TenantConfig{call.tenantId, std::nullopt, {}, {}, json::object()};
            if (!call.fallback) downtime();
        }
    }
    call.config = std::move(*config);
    return std::nullopt;
}

void buildTools(const PipelineServices& services, AcceptedCall& call) {
    if (!services.toolBuilder || call.config.plugin.empty()) return;
    try {
        call.tools = services.toolBuilder->build(call.config, {call.callId, call.tenantId, call.caller, call.dialed},
                                                 call.actions);
        call.tools->decorateInstructions(call.instructions);
    } catch (const std::exception& e) {
        logging::forCall(call.callId, call.tenantId).error("accepted without tools: {}", e.what());
        call.tools.reset();
    }
}

std::string restStatusLabel(const openai::RestResult& result) {
    if (result.status != 0) return std::to_string(result.status);
    return result.timedOut ? "timeout" : "error";
}

void saveCallRecord(const PipelineServices& services, const tenants::CallRecord& record) {
    try {
        services.store.saveCall(record);
    } catch (const tenants::StoreError& e) {
        countStoreError(services, record.callId, record.tenantId.empty() ? "none" : record.tenantId, "save_call", e);
    }
}

void countStoreError(const PipelineServices& services, const std::string& callId, const std::string& tenantId,
                     const char* operation, const tenants::StoreError& error) {
    services.metrics.increment(metrics::name::kStoreErrors, {{"tenant", tenantId}, {"operation", operation}});
    logging::forCall(callId, tenantId).error("store error during {}: {}", operation, error.what());
}

} // namespace sideband::calls
