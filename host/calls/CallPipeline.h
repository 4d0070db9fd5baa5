#pragma once

#include "calls/CallSetup.h"
#include "webhook/WebhookRouter.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sideband::calls {

// realtime.call.incoming, steps 4-10 of the product spec: caller and dialed number, tenant,
// capacity, instructions, config, tools, accept or reject. The webhook answer is 200 for every
// decided call (accepted, rejected, caller gone, or accept refused by OpenAI with a 4xx that a
// retry cannot change), so OpenAI does not redeliver it; an accept that failed for a reason worth
// retrying (5xx, 408, 409, 429, timeout, no answer) is answered 502, so the redelivery gets
// another chance with the same Idempotency-Key.
class IncomingCallHandler final : public webhook::WebhookEventHandler {
public:
    IncomingCallHandler(PipelineServices services, PipelineOptions options);
    webhook::WebhookResponse handle(const webhook::WebhookEvent& event) override;
    // While draining, new calls are rejected as `capacity` (SIP 486 does not strand the caller), or
    // in a fleet answered 503 for another replica to take (PipelineOptions::redeliverWhileDraining).
    void setDraining(bool draining) { draining_ = draining; }

private:
    struct Call;
    webhook::WebhookResponse reject(Call& call, const std::string& reason, int sipStatus,
                                    const std::string& idempotencyKey);
    webhook::WebhookResponse accept(Call& call);
    webhook::WebhookResponse acceptFailed(Call& call, const openai::RestResult& result);
    std::optional<std::string> resolveTenant(Call& call);

    PipelineServices services_;
    PipelineOptions options_;
    std::atomic<bool> draining_{false};
    // Last known number -> tenant answers, so calls still route while the store is down (the
    // spec's downtime fallback needs a tenant to fall back for).
    std::mutex routesMutex_;
    std::unordered_map<std::string, std::string> lastKnownRoutes_;
};

// realtime.call.ended / hangup / hungup: release the slot, record the end, close the session.
class CallEndedHandler final : public webhook::WebhookEventHandler {
public:
    CallEndedHandler(tenants::TenantStore& store, CallLedger& ledger, SessionLauncher& sessions,
                     metrics::MetricsRegistry& metrics, const Clock& clock);
    webhook::WebhookResponse handle(const webhook::WebhookEvent& event) override;

private:
    tenants::TenantStore& store_;
    CallLedger& ledger_;
    SessionLauncher& sessions_;
    metrics::MetricsRegistry& metrics_;
    const Clock& clock_;
};

} // namespace sideband::calls
