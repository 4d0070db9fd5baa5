#pragma once

#include "metrics/MetricsRegistry.h"

namespace sideband::metrics {

// Every metric the host records, named once so recording sites and tests agree.
namespace name {
inline constexpr const char* kWebhooks = "sideband_webhooks_total";                   // type, outcome
inline constexpr const char* kWebhookUnclaimed = "sideband_webhooks_unclaimed_total"; // shared dedup could not answer
inline constexpr const char* kWebhookSeconds = "sideband_webhook_duration_seconds";   // type
inline constexpr const char* kCallsAccepted = "sideband_calls_accepted_total";        // tenant, channel
inline constexpr const char* kWebRtcRequests = "sideband_webrtc_requests_total";      // outcome
inline constexpr const char* kCallsRejected = "sideband_calls_rejected_total";        // tenant, reason
inline constexpr const char* kCallsRedelivered = "sideband_calls_redelivered_total";  // reason (draining)
inline constexpr const char* kCallsEnded = "sideband_calls_ended_total";              // tenant, reason
inline constexpr const char* kAcceptFailures = "sideband_accept_failures_total";      // tenant, reason, status
inline constexpr const char* kAcceptSeconds = "sideband_accept_duration_seconds";     // (none)
inline constexpr const char* kOpenAIRequests = "sideband_openai_requests_total";      // operation, status
inline constexpr const char* kStoreErrors = "sideband_store_errors_total";            // tenant, operation
inline constexpr const char* kFallbacks = "sideband_fallback_instructions_total";     // tenant
inline constexpr const char* kToolCalls = "sideband_tool_calls_total";                // tenant, tool, outcome
inline constexpr const char* kToolSeconds = "sideband_tool_duration_seconds";         // tenant, tool
inline constexpr const char* kPluginLoadFailures = "sideband_plugin_load_failures_total"; // tenant, reason
// Tenant isolation on the tool pool (busy and queued are read from the executor at scrape time).
inline constexpr const char* kToolBusy = "sideband_tool_busy";                            // tenant
inline constexpr const char* kToolQueued = "sideband_tool_queued";                        // tenant
inline constexpr const char* kToolRefused = "sideband_tool_refused_total";                // tenant
inline constexpr const char* kPluginHookTimeouts = "sideband_plugin_hook_timeouts_total"; // tenant, hook
inline constexpr const char* kSessions = "sideband_sessions_total";                       // outcome, channel
inline constexpr const char* kCallsActive = "sideband_calls_active";                      // tenant
inline constexpr const char* kCallsPending = "sideband_calls_pending";                    // tenant
inline constexpr const char* kCallsActiveAll = "sideband_calls_active_all";               // (none)
inline constexpr const char* kCallsPendingAll = "sideband_calls_pending_all";             // (none)
inline constexpr const char* kCapacityLimit = "sideband_capacity_limit";                  // scope
// The event-loop I/O layer (host/io, host/http).
inline constexpr const char* kHttpConnectionsOpen = "sideband_http_connections_open";            // listener
inline constexpr const char* kHttpConnectionsClosed = "sideband_http_connections_closed_total";  // listener, reason
inline constexpr const char* kHttpRequestsRefused = "sideband_http_requests_refused_total";      // listener, reason
inline constexpr const char* kHttpSaturated = "sideband_http_saturated_total";                   // listener
inline constexpr const char* kHttpWorkerQueue = "sideband_http_worker_queue_depth";              // listener
inline constexpr const char* kSessionsOpen = "sideband_sessions_open";                           // state
inline constexpr const char* kSessionPingTimeouts = "sideband_session_ping_timeouts_total";      // (none)
inline constexpr const char* kSessionWorkerQueue = "sideband_session_worker_queue_depth";        // (none)
inline constexpr const char* kLoopIterationSeconds = "sideband_event_loop_iteration_seconds";    // loop
inline constexpr const char* kLoopTimerDelaySeconds = "sideband_event_loop_timer_delay_seconds"; // loop
inline constexpr const char* kHeapTrims = "sideband_heap_trims_total";                           // (none)
inline constexpr const char* kHeapTrimmedBytes = "sideband_heap_trimmed_bytes_total";            // (none)
// The Realtime turn protocol (issue 12) and host-ended calls.
inline constexpr const char* kRealtimeErrors = "sideband_realtime_errors_total";                  // code
inline constexpr const char* kRealtimeResponses = "sideband_realtime_responses_total";            // status
inline constexpr const char* kFunctionOutputs = "sideband_function_outputs_total";                // (none)
inline constexpr const char* kFunctionCallsSkipped = "sideband_function_calls_skipped_total";     // reason
inline constexpr const char* kResponseCreateRetries = "sideband_response_create_retries_total";   // (none)
inline constexpr const char* kSessionConnectSeconds = "sideband_session_connect_seconds";         // (none)
inline constexpr const char* kSessionConnectFailures = "sideband_session_connect_failures_total"; // reason
inline constexpr const char* kHangups = "sideband_hangups_total";                                 // reason, result
// Plugin runners (host/isolation): one sandboxed process per isolated tenant.
inline constexpr const char* kPluginRunnerUp = "sideband_plugin_runner_up";                   // tenant
inline constexpr const char* kPluginRunnerRestarts = "sideband_plugin_runner_restarts_total"; // tenant, reason
// Shared state for several replicas (host/fleet, issue 14).
inline constexpr const char* kRedisUp = "sideband_redis_up";                                  // (none)
inline constexpr const char* kRedisErrors = "sideband_redis_errors_total";                    // operation
inline constexpr const char* kLedgerRetriesQueued = "sideband_ledger_retries_queued";         // (none)
inline constexpr const char* kLedgerRetriesDropped = "sideband_ledger_retries_dropped_total"; // operation
inline constexpr const char* kCallEndBus = "sideband_call_end_bus_total";                     // direction, outcome
} // namespace name

// Declares the families whose help text and buckets do not depend on live state.
void declareSidebandMetrics(MetricsRegistry& registry);

} // namespace sideband::metrics
