#pragma once

#include "app/Settings.h"
#include "calls/CallLedger.h"
#include "calls/CallPipeline.h"
#include "calls/SessionLauncher.h"
#include "core/Clock.h"
#include "core/HeapTrimmer.h"
#include "http/HttpServer.h"
#include "io/EventLoop.h"
#include "metrics/MetricsRegistry.h"
#include "openai/CallControl.h"
#include "plugins/CallTools.h"
#include "sessions/SessionManager.h"
#include "tenants/TenantStore.h"
#include "webhook/WebhookDeduplicator.h"
#include "webhook/WebhookRouter.h"
#include "webhook/WebhookService.h"
#include "webhook/WebhookSignature.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <thread>

namespace sideband::plugins {
class PluginToolBuilder;
}
namespace sideband::fleet {
class RedisClient;
class RedisCallLedger;
class CallEndBus;
} // namespace sideband::fleet
namespace sideband::isolation {
class IsolatingToolBuilder;
}
namespace sideband::webrtc {
class CallEventLogs;
class WebRtcCalls;
} // namespace sideband::webrtc
namespace sideband::tenants {
class CachingTenantStore;
}

namespace sideband {

// The whole server, assembled from Settings: what `sideband-host` runs and what integration tests
// start in-process on a free port. Construction opens the store and binds the listeners (and
// throws a readable message when it cannot); start() begins serving.
class Host {
public:
    // `store` replaces the one SIDEBAND_DB names (tests substitute a fake or a failing store).
    // `launcher` replaces the sideband sessions for accepted calls (the pipeline benchmark ends
    // each call at once); it then owns the calls' ledger slots, as SessionLauncher says.
    explicit Host(const Settings& settings, const Clock& clock = SystemClock::instance(),
                  std::unique_ptr<tenants::TenantStore> store = nullptr,
                  std::unique_ptr<calls::SessionLauncher> launcher = nullptr);
    ~Host();

    void start();
    // Readiness goes false and new calls are rejected as `capacity`; calls in progress go on until
    // they end or the deadline passes. Returns the number of calls still open at the deadline.
    std::size_t drain(std::chrono::milliseconds deadline);
    void stop();
    // SIGHUP: new calls load the plugin files and read the tenants as they are now.
    void reload();

    std::uint16_t port() const { return server_->port(); }
    std::uint16_t metricsPort() const { return metricsServer_ ? metricsServer_->port() : port(); }
    bool ready() const { return ready_.load(); }

    metrics::MetricsRegistry& metrics() { return metrics_; }
    webhook::WebhookRouter& router() { return router_; }
    calls::CallLedger& ledger() { return *ledger_; }
    const std::string& replicaId() const { return replicaId_; }
    tenants::TenantStore& store() { return *store_; }
    sessions::SessionManager& sessions() { return *sessions_; }
    isolation::IsolatingToolBuilder& tools() { return *isolatedTools_; }

private:
    std::shared_ptr<http::Routes> buildRoutes(bool includeMetrics);
    http::Endpoint metricsEndpoint();
    http::RunOn metricsRunOn() const;
    void declareLiveMetrics();
    void prestartPluginRunners();
    void sweepLoop();

    Settings settings_;
    const Clock& clock_;
    metrics::MetricsRegistry metrics_;
    webhook::WebhookVerifier verifier_;
    std::string replicaId_;
    // A fleet (SIDEBAND_LEDGER=redis://...): ledger, webhook ids and call ends shared in Redis.
    std::unique_ptr<fleet::RedisClient> redis_;
    std::unique_ptr<webhook::WebhookDeduplicator> deduplicator_;
    webhook::WebhookRouter router_;
    webhook::WebhookService webhooks_;

    std::unique_ptr<io::EventLoops> loops_; // own every socket: the listeners' and the sessions'
    std::unique_ptr<tenants::TenantStore> store_;
    tenants::CachingTenantStore* tenantCache_ = nullptr; // inside store_; null when SIDEBAND_TENANT_CACHE_MS=0
    std::unique_ptr<calls::CallLedger> ledger_;
    fleet::RedisCallLedger* sharedLedger_ = nullptr; // ledger_ when shared: its lease heartbeat
    std::unique_ptr<fleet::CallEndBus> callEnds_;
    std::unique_ptr<openai::CallControl> callControl_;
    std::unique_ptr<plugins::PluginToolBuilder> toolBuilder_;        // in-process plugins
    std::unique_ptr<isolation::IsolatingToolBuilder> isolatedTools_; // runners; falls back to toolBuilder_
    std::unique_ptr<sessions::SessionManager> sessions_;
    std::unique_ptr<calls::SessionLauncher> launcher_;     // null: sessions_ launches the calls
    calls::SessionLauncher* launches_ = nullptr;           // launcher_ if given, else sessions_
    calls::SessionLauncher* localLaunches_ = nullptr;      // launches_ without the fleet's routing
    std::unique_ptr<calls::SessionLauncher> ownerRouting_; // a fleet: ends reach the owning replica
    std::shared_ptr<calls::IncomingCallHandler> incoming_;
    // Browsers' WebRTC calls (SIDEBAND_WEBRTC): their routes join the main listener's.
    std::unique_ptr<webrtc::CallEventLogs> webrtcLogs_;
    std::unique_ptr<webrtc::WebRtcCalls> webrtc_;
    std::shared_ptr<http::Routes> mainRoutes_;

    std::unique_ptr<http::HttpServer> server_;
    std::unique_ptr<http::HttpServer> metricsServer_;
    std::atomic<bool> ready_{false};
    std::atomic<bool> stopped_{false};

    std::mutex sweepMutex_;
    std::condition_variable sweepWake_;
    std::thread sweeper_;
    core::HeapTrimmer heapTrimmer_; // the sweeper's: gives freed heap back after calls end
};

} // namespace sideband
