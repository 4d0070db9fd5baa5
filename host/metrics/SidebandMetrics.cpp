#include "metrics/SidebandMetrics.h"

namespace sideband::metrics {

void declareSidebandMetrics(MetricsRegistry& r) {
    const std::vector<double> latency{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    r.declareCounter(name::kWebhooks, "Webhook deliveries by event type and outcome.");
    r.declareCounter(name::kWebhookUnclaimed,
                     "Webhooks processed without deduplication: the shared store did not answer.");
    r.declareHistogram(name::kWebhookSeconds, "Time to answer a webhook delivery, in seconds.", latency);
    r.declareCounter(name::kCallsAccepted, "Calls accepted, per tenant and channel (sip, webrtc).");
    r.declareCounter(name::kWebRtcRequests, "Browser WebRTC call requests, by outcome.");
    r.declareCounter(name::kCallsRejected, "Calls rejected, per tenant and reason.");
    r.declareCounter(name::kCallsRedelivered, "New calls answered 503 for OpenAI to redeliver elsewhere (draining).");
    r.declareCounter(name::kCallsEnded, "Calls ended, per tenant and end reason.");
    r.declareCounter(name::kAcceptFailures,
                     "Calls whose accept failed (after the REST client's retries), per tenant, reason "
                     "(call_not_found, refused, error, timeout) and status (HTTP status, timeout or error).");
    r.declareHistogram(name::kAcceptSeconds, "Time spent in the accept REST call, in seconds.", latency);
    r.declareCounter(name::kOpenAIRequests,
                     "OpenAI call-control REST requests, one per HTTP attempt (retries included), per operation "
                     "(accept, reject, refer, hangup) and status (HTTP status, timeout or error when no answer).");
    r.declareCounter(name::kStoreErrors, "Tenant store errors, per tenant and operation.");
    r.declareCounter(name::kFallbacks, "Calls accepted with the downtime fallback instructions.");
    r.declareCounter(name::kToolCalls, "Tool calls, per tenant, tool and outcome.");
    r.declareHistogram(name::kToolSeconds, "Tool execution time, in seconds.", latency);
    r.declareCounter(name::kPluginLoadFailures, "Plugin load failures, per tenant and reason.");
    r.declareCounter(name::kToolRefused,
                     "Tool calls and hooks refused at once because the tenant's tool queue was full, per tenant.");
    r.declareCounter(name::kPluginHookTimeouts, "Plugin hooks that overran their deadline, per tenant and hook.");
    r.declareCounter(name::kSessions, "Sideband sessions by outcome and channel.");
    r.declareCounter(name::kHttpConnectionsClosed,
                     "HTTP connections the server closed, per listener and reason (deadlines, limit, stop).");
    r.declareCounter(name::kHttpRequestsRefused, "Requests refused before routing, per listener and status.");
    r.declareCounter(name::kHttpSaturated, "Requests answered 503 because every worker was busy and the queue full.");
    r.declareCounter(name::kSessionPingTimeouts, "Sideband sessions ended because the peer stopped answering pings.");
    r.declareCounter(name::kHeapTrims, "Times freed heap memory was given back to the kernel after calls ended.");
    r.declareCounter(name::kHeapTrimmedBytes, "Bytes of resident memory given back to the kernel by those trims.");
    r.declareCounter(name::kRealtimeErrors, "Realtime API error events on sideband sessions, by error code.");
    r.declareCounter(name::kRealtimeResponses, "Model responses finished (response.done), by status.");
    r.declareCounter(name::kFunctionOutputs, "function_call_output items sent to the model.");
    r.declareCounter(name::kFunctionCallsSkipped,
                     "Function calls not run because their response was not completed (barge-in), by status.");
    r.declareCounter(name::kResponseCreateRetries,
                     "response.create sent again after conversation_already_has_active_response.");
    r.declareHistogram(name::kSessionConnectSeconds,
                       "Sideband connect (TCP, TLS, upgrade) of a call, retries included.",
                       {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    r.declareCounter(name::kSessionConnectFailures, "Sideband connects that failed for good, by reason.");
    r.declareCounter(
        name::kHangups,
        "REST hangups the host sent for calls it ended itself, by reason and result (ok, failed, skipped).");
    r.declareGauge(name::kPluginRunnerUp, "1 while the tenant's plugin runner is loaded and answering, else 0.");
    r.declareCounter(name::kPluginRunnerRestarts,
                     "Plugin runner processes restarted after they died or stopped answering, per tenant and reason.");
    r.declareGauge(name::kRedisUp, "1 while the shared-state Redis answers, 0 while it is unreachable.");
    r.declareCounter(name::kRedisErrors,
                     "Redis commands that failed (unreachable, timed out or an error reply), per operation.");
    r.declareGauge(name::kLedgerRetriesQueued,
                   "Ledger writes (promote, release, accept) waiting for Redis to be reachable again.");
    r.declareCounter(name::kLedgerRetriesDropped,
                     "Ledger writes dropped because the retry list was full during a Redis outage, per operation.");
    r.declareCounter(name::kCallEndBus,
                     "Call-end messages between replicas, by direction (sent, received) and outcome.");
}

} // namespace sideband::metrics
