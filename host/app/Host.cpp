#include "app/Host.h"

#include "core/Json.h"
#include "metrics/SidebandMetrics.h"

#include <spdlog/spdlog.h>

namespace sideband {
namespace {

constexpr std::size_t kMaxWebhookBody = 1024 * 1024;

// Until the call pipeline is plugged in, call events are acknowledged and logged.
class AcknowledgeHandler final : public webhook::WebhookEventHandler {
public:
    webhook::WebhookResponse handle(const webhook::WebhookEvent& event) override {
        spdlog::info("{} call={}", event.type, event.callId);
        return webhook::WebhookResponse::ok();
    }
};

http::ListenerOptions listenerOptions(const Settings& settings, const std::string& address) {
    http::ListenerOptions options;
    options.address = address;
    options.tlsCertFile = settings.tlsCert;
    options.tlsKeyFile = settings.tlsKey;
    options.threads = settings.httpThreads;
    return options;
}

} // namespace

Host::Host(const Settings& settings, const Clock& clock)
    : settings_(settings),
      clock_(clock),
      verifier_(webhook::parseWebhookSecrets(settings.webhookSecret), clock),
      deduplicator_(clock),
      webhooks_(verifier_, deduplicator_, router_, metrics_) {
    metrics::declareSidebandMetrics(metrics_);
    auto acknowledge = std::make_shared<AcknowledgeHandler>();
    for (const char* type : {webhook::event_type::kCallIncoming, webhook::event_type::kCallEnded,
                             webhook::event_type::kCallHangup, webhook::event_type::kCallHungup})
        router_.add(type, acknowledge);

    const bool separateMetrics = !settings.metricsListen.empty();
    server_ = std::make_unique<http::HttpServer>(listenerOptions(settings, settings.listen),
                                                 buildRoutes(!separateMetrics));
    if (separateMetrics) {
        auto options = listenerOptions(settings, settings.metricsListen);
        options.tlsCertFile.clear(); // scraped on an internal address
        options.tlsKeyFile.clear();
        options.threads = 2;
        auto routes = std::make_shared<http::Routes>();
        routes->add("GET", "/metrics", metricsEndpoint());
        metricsServer_ = std::make_unique<http::HttpServer>(options, routes);
    }
}

Host::~Host() { stop(); }

std::shared_ptr<http::Routes> Host::buildRoutes(bool includeMetrics) {
    auto routes = std::make_shared<http::Routes>();
    routes->add("POST", "/api/v1/openai/webhook", [this](auto& request, auto& response) {
        std::string body;
        const auto read = http::readBody(request, kMaxWebhookBody, body);
        if (read != http::BodyRead::Complete) {
            if (read == http::BodyRead::TooLargeUnread) response.setKeepAlive(false);
            spdlog::warn("webhook refused: body over {} bytes", kMaxWebhookBody);
            http::sendJson(response, 413, json::detail("Request body too large"));
            return;
        }
        webhook::SignatureHeaders headers{request.get("webhook-id", ""), request.get("webhook-timestamp", ""),
                                          request.get("webhook-signature", "")};
        const auto answer = webhooks_.handle(headers, body);
        http::sendJson(response, answer.status, answer.body);
    });
    routes->add("GET", "/healthz", [](auto&, auto& response) { http::sendJson(response, 200, R"({"status":"ok"})"); });
    routes->add("GET", "/readyz", [this](auto&, auto& response) {
        if (ready_)
            http::sendJson(response, 200, R"({"status":"ready"})");
        else
            http::sendJson(response, 503, R"({"status":"not_ready"})");
    });
    if (includeMetrics) routes->add("GET", "/metrics", metricsEndpoint());
    return routes;
}

http::Endpoint Host::metricsEndpoint() {
    return [this](auto&, auto& response) {
        http::sendText(response, 200, "text/plain; version=0.0.4", metrics_.renderPrometheus());
    };
}

void Host::start() {
    server_->start();
    if (metricsServer_) metricsServer_->start();
    ready_ = true;
    spdlog::info("sideband-host listening on {} ({}), port {}", settings_.listen, server_->tls() ? "https" : "http",
                 server_->port());
}

void Host::stop() {
    ready_ = false;
    if (metricsServer_) metricsServer_->stop();
    if (server_) server_->stop();
}

} // namespace sideband
