#include "app/Host.h"

#include "calls/CallEnd.h"
#include "core/Json.h"
#include "core/Logging.h"
#include "fleet/CallEndBus.h"
#include "fleet/OwnerRoutingLauncher.h"
#include "fleet/RedisCallLedger.h"
#include "fleet/RedisClient.h"
#include "fleet/RedisWebhookDeduplicator.h"
#include "isolation/IsolatingToolBuilder.h"
#include "metrics/SidebandMetrics.h"
#include "openai/OpenAIRestClient.h"
#include "plugins/PluginToolBuilder.h"
#include "sideband/sdk/loader/PluginLibrary.h"
#include "tenants/CachingTenantStore.h"
#include "tenants/TenantStoreFactory.h"
#include "tenants/WriteBehindTenantStore.h"
#include "webrtc/WebRtcCalls.h"

#include <spdlog/spdlog.h>

#include <Poco/Environment.h>
#include <Poco/Random.h>
#include <Poco/StringTokenizer.h>

#include <filesystem>

namespace sideband {
namespace {

constexpr std::size_t kMaxWebhookBody = 1024 * 1024;
constexpr auto kSweepInterval = std::chrono::seconds(5);
// Running tools are told to cancel at stop; those still running after this are abandoned.
constexpr auto kToolShutdownGrace = std::chrono::milliseconds(5000);

// The runner executable: SIDEBAND_PLUGIN_RUNNER, else next to this program, else the packaged libexec.
std::string runnerPath(const Settings& settings) {
    if (!settings.pluginRunner.empty()) return settings.pluginRunner;
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        for (const auto& candidate : {self.parent_path() / "sideband-plugin-runner",
                                      self.parent_path().parent_path() / "libexec/sideband/sideband-plugin-runner"})
            if (std::filesystem::exists(candidate, ec)) return candidate.string();
    }
    return "/usr/libexec/sideband/sideband-plugin-runner";
}

isolation::RunnerSettings runnerSettings(const Settings& settings) {
    isolation::RunnerSettings r;
    r.runnerPath = runnerPath(settings);
    std::error_code ec;
    const auto state = settings.stateDir.empty() ? std::filesystem::temp_directory_path(ec) / "sideband-state"
                                                 : std::filesystem::absolute(settings.stateDir, ec);
    r.workRoot = (state / "plugins").string(); // each tenant: <state>/plugins/<tenant>
    std::filesystem::create_directories(r.workRoot, ec);
    r.addressSpaceMb = static_cast<std::uint64_t>(settings.pluginMemoryMb);
    r.cpuSeconds = static_cast<std::uint64_t>(settings.pluginCpuSeconds);
    r.toolThreads = static_cast<std::size_t>(settings.pluginToolThreads);
    r.toolQueue = static_cast<std::size_t>(settings.toolQueuePerTenant);
    r.startTimeout = std::chrono::milliseconds(settings.pluginStartTimeoutMs);
    return r;
}

http::ListenerOptions listenerOptions(const Settings& settings, const std::string& address) {
    http::ListenerOptions options;
    options.address = address;
    options.tlsCertFile = settings.tlsCert;
    options.tlsKeyFile = settings.tlsKey;
    options.workers = settings.httpThreads;
    options.queue = static_cast<std::size_t>(settings.httpQueue);
    options.maxConnections = static_cast<std::size_t>(settings.maxConnections);
    options.maxBodyBytes = kMaxWebhookBody;
    options.tlsHandshakeTimeout = std::chrono::milliseconds(settings.tlsHandshakeTimeoutMs);
    options.headTimeout = std::chrono::milliseconds(settings.headTimeoutMs);
    options.bodyTimeout = std::chrono::milliseconds(settings.bodyTimeoutMs);
    options.idleTimeout = std::chrono::milliseconds(settings.idleTimeoutMs);
    // A webhook in progress at stop waits for OpenAI at most this long; its answer is not cut off.
    options.stopGrace = std::chrono::milliseconds(settings.openaiTimeoutMs + 1000);
    return options;
}

openai::RestClientOptions restOptions(const Settings& s) {
    openai::RestClientOptions options;
    options.baseUrl = s.openaiBaseUrl;
    options.apiKey = s.openaiApiKey;
    options.caFile = s.openaiCaFile;
    options.connectTimeout = std::chrono::milliseconds(s.openaiConnectTimeoutMs);
    options.totalTimeout = std::chrono::milliseconds(s.openaiTimeoutMs);
    options.retries = s.openaiRetries;
    // Every webhook thread may be inside an accept at once: keep a connection for each.
    options.maxIdleConnections = static_cast<std::size_t>(s.httpThreads);
    return options;
}

sessions::SessionOptions sessionOptions(const Settings& s) {
    sessions::SessionOptions options;
    options.baseUrl = s.openaiBaseUrl;
    options.apiKey = s.openaiApiKey;
    options.caFile = s.openaiCaFile;
    options.connectTimeout = std::chrono::milliseconds(s.sessionConnectTimeoutMs);
    options.workers = s.sessionWorkers;
    options.connectors = s.sessionConnectors;
    options.pingInterval = std::chrono::milliseconds(s.sessionPingIntervalMs);
    options.pingTimeout = std::chrono::milliseconds(s.sessionPingTimeoutMs);
    return options;
}

calls::PipelineOptions pipelineOptions(const Settings& s) {
    calls::PipelineOptions options;
    options.maxConcurrentCalls = s.maxConcurrentCalls;
    options.maxConcurrentCallsPerTenant = s.maxConcurrentCallsPerTenant;
    options.downtimePrompt = s.downtimePrompt;
    options.downtimeGreeting = s.downtimeGreeting;
    options.rejectStatusCapacity = s.rejectStatusCapacity;
    options.rejectStatusOther = s.rejectStatusOther;
    options.redeliverWhileDraining = s.redeliverWhileDraining();
    return options;
}

// New at every start: a restarted replica must not renew the lease of slots its last run held.
std::string replicaIdFor(const Settings& s) {
    if (!s.replicaId.empty()) return s.replicaId;
    Poco::Random random;
    random.seed();
    char suffix[9];
    std::snprintf(suffix, sizeof suffix, "%08x", random.next());
    return Poco::Environment::nodeName() + "-" + std::to_string(::getpid()) + "-" + suffix;
}

std::unique_ptr<fleet::RedisClient> redisFor(const Settings& s, metrics::MetricsRegistry& metrics) {
    if (!s.sharedLedger()) return nullptr;
    fleet::RedisClient::Options options;
    options.url = s.ledger;
    options.connectTimeout = options.commandTimeout = std::chrono::milliseconds(s.redisTimeoutMs);
    // Every webhook worker may reserve or claim at once, plus the sweeper and the session workers' releases.
    options.poolSize = static_cast<std::size_t>(s.httpThreads + s.sessionWorkers + 2);
    return std::make_unique<fleet::RedisClient>(options, &metrics);
}

std::unique_ptr<webhook::WebhookDeduplicator> deduplicatorFor(const Settings& s, const Clock& clock,
                                                              fleet::RedisClient* redis) {
    if (!redis) return std::make_unique<webhook::InMemoryWebhookDeduplicator>(clock);
    fleet::RedisWebhookDeduplicator::Options options;
    options.keyPrefix = s.redisPrefix;
    return std::make_unique<fleet::RedisWebhookDeduplicator>(*redis, options);
}

} // namespace

Host::Host(const Settings& settings, const Clock& clock, std::unique_ptr<tenants::TenantStore> store,
           std::unique_ptr<calls::SessionLauncher> launcher)
    : settings_(settings), clock_(clock), verifier_(webhook::parseWebhookSecrets(settings.webhookSecret), clock),
      replicaId_(replicaIdFor(settings)), redis_(redisFor(settings, metrics_)),
      deduplicator_(deduplicatorFor(settings, clock, redis_.get())),
      webhooks_(verifier_, *deduplicator_, router_, metrics_) {
    metrics::declareSidebandMetrics(metrics_);
    loops_ = std::make_unique<io::EventLoops>("io", settings.ioThreads);
    // Listeners first: a bad address or TLS file is reported before anything touches the store.
    const bool separateMetrics = !settings.metricsListen.empty();
    auto mainOptions = listenerOptions(settings, settings.listen);
    mainOptions.loops = loops_.get();
    mainOptions.metrics = &metrics_;
    mainRoutes_ = buildRoutes(!separateMetrics);
    server_ = std::make_unique<http::HttpServer>(mainOptions, mainRoutes_);
    if (separateMetrics) {
        auto options = listenerOptions(settings, settings.metricsListen);
        options.name = "metrics";
        options.tlsCertFile.clear(); // scraped on an internal address
        options.tlsKeyFile.clear();
        options.workers = 1; // its only route runs on the loop
        options.loops = loops_.get();
        options.metrics = &metrics_;
        auto routes = std::make_shared<http::Routes>();
        routes->add("GET", "/metrics", metricsEndpoint(), metricsRunOn());
        metricsServer_ = std::make_unique<http::HttpServer>(options, routes);
    }

    store_ = store ? std::move(store) : tenants::openTenantStore(settings.database);
    // Call records are written off the webhook's thread; what the store refuses is counted and logged here.
    store_ = std::make_unique<tenants::WriteBehindTenantStore>(
        std::move(store_), [this](const tenants::WriteBehindTenantStore::Failure& failure) {
            const std::string tenant = failure.tenantId.empty() ? "none" : failure.tenantId;
            metrics_.increment(metrics::name::kStoreErrors, {{"tenant", tenant}, {"operation", failure.operation}});
            logging::forCall(failure.callId, tenant)
                .error("call record not written ({}): {}", failure.operation, failure.message);
        });
    if (settings.tenantCacheMs > 0) {
        auto cache = std::make_unique<tenants::CachingTenantStore>(
            std::move(store_), std::chrono::milliseconds(settings.tenantCacheMs), clock);
        tenantCache_ = cache.get();
        store_ = std::move(cache);
    }
    if (redis_) {
        fleet::RedisCallLedger::Options ledgerOptions;
        ledgerOptions.keyPrefix = settings.redisPrefix;
        auto shared = std::make_unique<fleet::RedisCallLedger>(
            *redis_, replicaId_, std::chrono::milliseconds(settings.leaseTtlMs), clock, &metrics_, ledgerOptions);
        sharedLedger_ = shared.get();
        ledger_ = std::move(shared);
        fleet::CallEndBus::Options busOptions;
        busOptions.keyPrefix = settings.redisPrefix;
        callEnds_ = std::make_unique<fleet::CallEndBus>(*redis_, replicaId_, &metrics_, busOptions);
    } else {
        ledger_ = std::make_unique<calls::InMemoryCallLedger>(clock);
    }
    auto rest = restOptions(settings);
    rest.metrics = &metrics_; // sideband_openai_requests_total
    callControl_ = std::make_unique<openai::OpenAIRestClient>(rest);
    toolBuilder_ = std::make_unique<plugins::PluginToolBuilder>(
        settings.pluginDir, metrics_,
        plugins::ToolExecutor::Options{static_cast<std::size_t>(settings.toolThreads),
                                       static_cast<std::size_t>(settings.toolConcurrencyPerTenant),
                                       static_cast<std::size_t>(settings.toolQueuePerTenant)});
    isolatedTools_ = std::make_unique<isolation::IsolatingToolBuilder>(*toolBuilder_, runnerSettings(settings),
                                                                       settings.pluginIsolation == "process", metrics_);
    auto sessionSettings = sessionOptions(settings);
    sessionSettings.loops = loops_.get();
    sessions_ = std::make_unique<sessions::SessionManager>(sessionSettings, *ledger_, *store_, metrics_, clock,
                                                           callControl_.get());
    launcher_ = std::move(launcher);
    launches_ = launcher_ ? launcher_.get() : static_cast<calls::SessionLauncher*>(sessions_.get());
    localLaunches_ = launches_;
    if (callEnds_) {
        ownerRouting_ = std::make_unique<fleet::OwnerRoutingLauncher>(*launches_, *ledger_, *callEnds_, replicaId_);
        launches_ = ownerRouting_.get();
    }
    declareLiveMetrics();

    incoming_ = std::make_shared<calls::IncomingCallHandler>(
        calls::PipelineServices{*store_, *ledger_, *callControl_, isolatedTools_.get(), *launches_, metrics_, clock},
        pipelineOptions(settings));
    router_.add(webhook::event_type::kCallIncoming, incoming_);
    if (settings.webrtc) {
        webrtc::WebRtcOptions webrtcOptions;
        webrtcOptions.page = settings.webrtcPage;
        Poco::StringTokenizer origins(settings.webrtcOrigins, ",",
                                      Poco::StringTokenizer::TOK_TRIM | Poco::StringTokenizer::TOK_IGNORE_EMPTY);
        webrtcOptions.corsOrigins.assign(origins.begin(), origins.end());
        webrtcLogs_ = std::make_unique<webrtc::CallEventLogs>(static_cast<std::size_t>(settings.webrtcEventLogs));
        webrtc_ = std::make_unique<webrtc::WebRtcCalls>(calls::PipelineServices{*store_, *ledger_, *callControl_,
                                                                                isolatedTools_.get(), *launches_,
                                                                                metrics_, clock},
                                                        pipelineOptions(settings), webrtcOptions, *webrtcLogs_);
        webrtc_->addRoutes(*mainRoutes_); // before the server starts: routes are read-only from then on
    }
    auto ended = std::make_shared<calls::CallEndedHandler>(*store_, *ledger_, *launches_, metrics_, clock);
    for (const char* type :
         {webhook::event_type::kCallEnded, webhook::event_type::kCallHangup, webhook::event_type::kCallHungup})
        router_.add(type, ended);
}

Host::~Host() {
    stop();
}

void Host::declareLiveMetrics() {
    auto perTenant = [this](bool active) {
        return [this, active] {
            std::vector<metrics::MetricsRegistry::GaugeSample> samples;
            for (const auto& [tenant, counts] : ledger_->byTenant())
                samples.push_back({{{"tenant", tenant}}, double(active ? counts.active : counts.pending)});
            return samples;
        };
    };
    metrics_.declareGauge(metrics::name::kCallsActive, "Calls in progress, per tenant.", perTenant(true));
    metrics_.declareGauge(metrics::name::kCallsPending, "Calls reserved but not yet in progress, per tenant.",
                          perTenant(false));
    metrics_.declareGauge(metrics::name::kCallsActiveAll, "Calls in progress, all tenants.", [this] {
        return std::vector<metrics::MetricsRegistry::GaugeSample>{{{}, double(ledger_->total().active)}};
    });
    metrics_.declareGauge(
        metrics::name::kCallsPendingAll, "Calls reserved but not yet in progress, all tenants.", [this] {
            return std::vector<metrics::MetricsRegistry::GaugeSample>{{{}, double(ledger_->total().pending)}};
        });
    metrics_.declareGauge(metrics::name::kHttpConnectionsOpen, "Open HTTP connections, per listener.", [this] {
        std::vector<metrics::MetricsRegistry::GaugeSample> samples{
            {{{"listener", "main"}}, double(server_->openConnections())}};
        if (metricsServer_) samples.push_back({{{"listener", "metrics"}}, double(metricsServer_->openConnections())});
        return samples;
    });
    metrics_.declareGauge(metrics::name::kHttpWorkerQueue, "Complete requests waiting for an HTTP worker.", [this] {
        return std::vector<metrics::MetricsRegistry::GaugeSample>{
            {{{"listener", "main"}}, double(server_->queuedRequests())}};
    });
    metrics_.declareGauge(metrics::name::kSessionsOpen, "Sideband sessions, per state.", [this] {
        std::vector<metrics::MetricsRegistry::GaugeSample> samples;
        for (const auto& [state, count] : sessions_->sessionsByState())
            samples.push_back({{{"state", state}}, double(count)});
        return samples;
    });
    metrics_.declareGauge(
        metrics::name::kSessionWorkerQueue, "Sideband messages waiting for a session worker.", [this] {
            return std::vector<metrics::MetricsRegistry::GaugeSample>{{{}, double(sessions_->queuedMessages())}};
        });
    // The loops' own timings, kept by each loop without a lock and read here at scrape time.
    auto loopTimings = [this](io::DurationHistogram io::LoopTimings::*which) {
        return [this, which] {
            std::vector<metrics::MetricsRegistry::HistogramSample> samples;
            for (std::size_t i = 0; i < loops_->size(); ++i) {
                auto& loop = loops_->at(i);
                auto taken = (loop.timings().*which).snapshot();
                samples.push_back({{{"loop", loop.name()}}, std::move(taken.buckets), taken.sumSeconds, taken.count});
            }
            return samples;
        };
    };
    const std::vector<double> loopBounds(io::DurationHistogram::kBoundsSeconds.begin(),
                                         io::DurationHistogram::kBoundsSeconds.end());
    metrics_.declareHistogram(metrics::name::kLoopIterationSeconds,
                              "Time each event-loop iteration held its thread (events, posted tasks, timers); "
                              "every socket on the loop waits that long.",
                              loopBounds, loopTimings(&io::LoopTimings::iteration));
    metrics_.declareHistogram(metrics::name::kLoopTimerDelaySeconds,
                              "How late a due timer was when its event loop woke for it (the loop thread "
                              "waiting for a core, or a long iteration before).",
                              loopBounds, loopTimings(&io::LoopTimings::timerDelay));
    auto toolLoad = [this](bool busy) {
        return [this, busy] {
            std::vector<metrics::MetricsRegistry::GaugeSample> samples;
            for (const auto& load : toolBuilder_->executor()->load())
                if (!load.tenant.empty()) // "": isolated tenants' actions and hooks, not a tenant
                    samples.push_back({{{"tenant", load.tenant}}, double(busy ? load.running : load.queued)});
            // Isolated tenants: what their runners have been asked and not yet answered.
            for (const auto& load : isolatedTools_->load())
                samples.push_back({{{"tenant", load.tenant}}, double(busy ? load.running : load.queued)});
            return samples;
        };
    };
    metrics_.declareGauge(metrics::name::kToolBusy,
                          "Tool pool workers running a tenant's tools or hooks (overrunning ones included).",
                          toolLoad(true));
    metrics_.declareGauge(metrics::name::kToolQueued, "A tenant's tool calls and hooks waiting for a worker.",
                          toolLoad(false));
    const double global = settings_.maxConcurrentCalls;
    const double perTenantDefault = settings_.maxConcurrentCallsPerTenant.value_or(settings_.maxConcurrentCalls);
    metrics_.declareGauge(metrics::name::kCapacityLimit, "Concurrent call limits.", [global, perTenantDefault] {
        return std::vector<metrics::MetricsRegistry::GaugeSample>{{{{"scope", "global"}}, global},
                                                                  {{{"scope", "tenant_default"}}, perTenantDefault}};
    });
}

std::shared_ptr<http::Routes> Host::buildRoutes(bool includeMetrics) {
    auto routes = std::make_shared<http::Routes>();
    // The body has been read whole (over 1 MiB the server answers 413 itself). Verification and
    // deduplication run on the loop, so a flood of forged or redelivered webhooks never takes a
    // worker; a new event waits on the store and on OpenAI, on a worker.
    routes->add(
        "POST", "/api/v1/openai/webhook",
        [this](const http::Request& request) {
            webhook::SignatureHeaders headers{request.header("webhook-id"), request.header("webhook-timestamp"),
                                              request.header("webhook-signature")};
            auto triaged = std::make_shared<webhook::WebhookService::Triage>(webhooks_.triage(headers, request.body));
            if (triaged->answer) return http::Response::json(triaged->answer->status, triaged->answer->body);
            return http::Response::later(
                [this, triaged] {
                    const auto answer = webhooks_.finish(*triaged);
                    return http::Response::json(answer.status, answer.body);
                },
                [this, triaged] { webhooks_.release(*triaged); });
        },
        http::RunOn::Inline);
    routes->add(
        "GET", "/healthz", [](const http::Request&) { return http::Response::json(200, R"({"status":"ok"})"); },
        http::RunOn::Inline);
    routes->add(
        "GET", "/readyz",
        [this](const http::Request&) {
            return ready_ ? http::Response::json(200, R"({"status":"ready"})")
                          : http::Response::json(503, R"({"status":"not_ready"})");
        },
        http::RunOn::Inline);
    if (includeMetrics) routes->add("GET", "/metrics", metricsEndpoint(), metricsRunOn());
    return routes;
}

// The call gauges read a shared ledger from Redis: a network round trip, so not on an event loop.
http::RunOn Host::metricsRunOn() const {
    return redis_ ? http::RunOn::Worker : http::RunOn::Inline;
}

http::Endpoint Host::metricsEndpoint() {
    return [this](const http::Request&) {
        return http::Response::text(200, "text/plain; version=0.0.4", metrics_.renderPrometheus());
    };
}

void Host::start() {
    if (sharedLedger_) {
        sharedLedger_->start(); // the lease first: no slot is held without one
        // The owner's side of the call-end bus: another replica received this call's ended webhook.
        callEnds_->start(
            [this](const std::string& callId, const std::string& reason) { localLaunches_->endCall(callId, reason); });
        spdlog::info("fleet: replica {}, shared ledger and webhook ids at {} (lease {} ms)", replicaId_,
                     redis_->url().display(), settings_.leaseTtlMs);
    }
    prestartPluginRunners();
    server_->start();
    if (metricsServer_) metricsServer_->start();
    sweeper_ = std::thread([this] { sweepLoop(); });
    ready_ = true;
    spdlog::info("sideband-host listening on {} ({}), port {}", settings_.listen, server_->tls() ? "https" : "http",
                 server_->port());
}

std::size_t Host::drain(std::chrono::milliseconds deadline) {
    // Refuse first, then report not ready: whoever sees readiness drop finds new calls refused.
    incoming_->setDraining(true);
    if (webrtc_) webrtc_->setDraining(true);
    ready_ = false;
    const auto open = sessions_->activeSessions();
    spdlog::info("draining: {} call(s) in progress, deadline {} s", open,
                 std::chrono::duration_cast<std::chrono::seconds>(deadline).count());
    if (sessions_->waitUntilIdle(deadline)) return 0;
    const auto left = sessions_->activeSessions();
    spdlog::warn("drain deadline passed with {} call(s) in progress; closing them", left);
    return left;
}

// Enabled tenants' runners load while the host starts, so their first call does not wait for a load.
// The store may be down: calls then start runners on demand.
void Host::prestartPluginRunners() {
    // What a plugin must be built against: the SDK's fingerprint (docs/plugins.md, loading step 3).
    spdlog::info("plugins: isolation {}, accepting builds with {}", settings_.pluginIsolation,
                 sdk::loader::hostFingerprint());
    try {
        std::vector<tenants::TenantConfig> tenants;
        for (const auto& tenant : store_->listTenants())
            if (tenant.enabled) tenants.push_back(store_->config(tenant.id));
        isolatedTools_->prestart(tenants);
    } catch (const std::exception& e) {
        spdlog::warn("plugin runners not started ahead of calls: {}", e.what());
    }
}

void Host::reload() {
    isolatedTools_->reloadAll(); // and the in-process plugins
    prestartPluginRunners();
    if (tenantCache_) tenantCache_->invalidate();
    spdlog::info("reloaded: new calls use the plugin files and tenants as they are now");
}

void Host::stop() {
    if (stopped_.exchange(true)) return;
    ready_ = false;
    if (metricsServer_) metricsServer_->stop();
    if (server_) server_->stop();
    {
        std::lock_guard lock(sweepMutex_);
        sweepWake_.notify_all();
    }
    if (sweeper_.joinable()) sweeper_.join();
    if (callEnds_) callEnds_->stop();
    if (sessions_) sessions_->stop();
    if (sharedLedger_) sharedLedger_->stop(); // after the sessions have released their slots
    // Runners are killed once no session can ask them for anything; their pending tools are answered.
    if (isolatedTools_) isolatedTools_->stop();
    // After the sessions (their last hooks are queued by now), before the loops (tool outputs post there).
    if (toolBuilder_) toolBuilder_->executor()->shutdown(kToolShutdownGrace);
    if (loops_) loops_->stop();
}

void Host::sweepLoop() {
    std::unique_lock lock(sweepMutex_);
    while (!stopped_) {
        sweepWake_.wait_for(lock, kSweepInterval);
        if (stopped_) break;
        for (const auto& swept : ledger_->sweep(std::chrono::seconds(settings_.pendingTimeoutSeconds),
                                                std::chrono::seconds(settings_.maxCallSeconds))) {
            logging::forCall(swept.callId, swept.tenantId).warn("slot freed by the sweeper: {}", swept.reason);
            launches_->hangUp(swept.callId, swept.tenantId, swept.reason); // OpenAI still has the call
            calls::recordCallEnd(*store_, metrics_, clock_, swept.callId, swept.tenantId, swept.reason);
        }
        const auto inProgress = sessions_->activeSessions();
        if (const auto trimmed = heapTrimmer_.observe(inProgress)) {
            metrics_.increment(metrics::name::kHeapTrims);
            metrics_.increment(metrics::name::kHeapTrimmedBytes, {}, double(trimmed->bytes));
            spdlog::info("gave {:.1f} MiB of freed heap back to the kernel ({} calls in progress, {} at the peak)",
                         double(trimmed->bytes) / (1024.0 * 1024.0), inProgress, trimmed->peakCalls);
        }
    }
}

} // namespace sideband
