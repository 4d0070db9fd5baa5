#pragma once

#include "app/Settings.h"
#include "core/Clock.h"
#include "http/HttpServer.h"
#include "metrics/MetricsRegistry.h"
#include "webhook/WebhookDeduplicator.h"
#include "webhook/WebhookRouter.h"
#include "webhook/WebhookService.h"
#include "webhook/WebhookSignature.h"

#include <atomic>
#include <memory>

namespace sideband {

// The whole server, assembled from Settings: what `sideband-host` runs and what integration tests
// start in-process on a free port. Construction binds the listeners (and throws a readable
// message when it cannot); start() begins serving.
class Host {
public:
    explicit Host(const Settings& settings, const Clock& clock = SystemClock::instance());
    ~Host();

    void start();
    void stop();

    std::uint16_t port() const { return server_->port(); }
    std::uint16_t metricsPort() const { return metricsServer_ ? metricsServer_->port() : port(); }
    bool ready() const { return ready_.load(); }

    metrics::MetricsRegistry& metrics() { return metrics_; }
    webhook::WebhookRouter& router() { return router_; }

private:
    std::shared_ptr<http::Routes> buildRoutes(bool includeMetrics);
    http::Endpoint metricsEndpoint();

    Settings settings_;
    const Clock& clock_;
    metrics::MetricsRegistry metrics_;
    webhook::WebhookVerifier verifier_;
    webhook::InMemoryWebhookDeduplicator deduplicator_;
    webhook::WebhookRouter router_;
    webhook::WebhookService webhooks_;
    std::unique_ptr<http::HttpServer> server_;
    std::unique_ptr<http::HttpServer> metricsServer_;
    std::atomic<bool> ready_{false};
};

} // namespace sideband
