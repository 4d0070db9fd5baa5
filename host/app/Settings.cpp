#include "app/Settings.h"

#include "webhook/WebhookSignature.h"

#include <Poco/AutoPtr.h>
#include <Poco/Environment.h>
#include <Poco/NumberParser.h>
#include <Poco/Util/PropertyFileConfiguration.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace sideband {
namespace {

class Reader {
public:
    Reader(const Settings::Lookup& lookup, std::vector<std::string>& problems) : lookup_(lookup), problems_(problems) {}

    void text(const char* name, std::string& out) {
        if (auto value = lookup_(name)) out = *value;
    }
    void integer(const char* name, int& out, int min, int max) {
        if (auto parsed = parse(name, min, max)) out = *parsed;
    }
    void integer(const char* name, std::optional<int>& out, int min, int max) {
        if (auto parsed = parse(name, min, max)) out = parsed;
    }
    void flag(const char* name, bool& out) {
        auto value = lookup_(name);
        if (!value || value->empty()) return;
        if (*value == "1" || *value == "true" || *value == "yes")
            out = true;
        else if (*value == "0" || *value == "false" || *value == "no")
            out = false;
        else
            problems_.push_back(std::string(name) + " must be 1 or 0");
    }

private:
    std::optional<int> parse(const char* name, int min, int max) {
        auto value = lookup_(name);
        if (!value || value->empty()) return std::nullopt;
        int parsed = 0;
        if (Poco::NumberParser::tryParse(*value, parsed) && parsed >= min && parsed <= max) return parsed;
        problems_.push_back(std::string(name) + " must be an integer between " + std::to_string(min) + " and " +
                            std::to_string(max));
        return std::nullopt;
    }

    const Settings::Lookup& lookup_;
    std::vector<std::string>& problems_;
};

} // namespace

Settings Settings::load(const Lookup& lookup, std::vector<std::string>& problems) {
    Settings s;
    Reader r(lookup, problems);
    r.text("SIDEBAND_LISTEN", s.listen);
    r.text("SIDEBAND_METRICS_LISTEN", s.metricsListen);
    r.text("SIDEBAND_TLS_CERT", s.tlsCert);
    r.text("SIDEBAND_TLS_KEY", s.tlsKey);
    r.flag("SIDEBAND_INSECURE_HTTP", s.insecureHttp);
    r.integer("SIDEBAND_HTTP_THREADS", s.httpThreads, 1, 1024);
    r.integer("SIDEBAND_HTTP_QUEUE", s.httpQueue, 0, 1000000);
    r.integer("SIDEBAND_IO_THREADS", s.ioThreads, 1, 64);
    r.integer("SIDEBAND_MAX_CONNECTIONS", s.maxConnections, 1, 10000000);
    r.integer("SIDEBAND_TLS_HANDSHAKE_TIMEOUT_MS", s.tlsHandshakeTimeoutMs, 1, 3600 * 1000);
    r.integer("SIDEBAND_HTTP_HEAD_TIMEOUT_MS", s.headTimeoutMs, 1, 3600 * 1000);
    r.integer("SIDEBAND_HTTP_BODY_TIMEOUT_MS", s.bodyTimeoutMs, 1, 3600 * 1000);
    r.integer("SIDEBAND_HTTP_IDLE_TIMEOUT_MS", s.idleTimeoutMs, 1, 24 * 3600 * 1000);
    r.text("OPENAI_WEBHOOK_SECRET", s.webhookSecret);
    r.text("OPENAI_API_KEY", s.openaiApiKey);
    r.text("OPENAI_BASE_URL", s.openaiBaseUrl);
    r.text("SIDEBAND_OPENAI_CA_FILE", s.openaiCaFile);
    r.integer("SIDEBAND_OPENAI_CONNECT_TIMEOUT_MS", s.openaiConnectTimeoutMs, 1, 60000);
    r.integer("SIDEBAND_OPENAI_TIMEOUT_MS", s.openaiTimeoutMs, 1, 120000);
    r.integer("SIDEBAND_OPENAI_RETRIES", s.openaiRetries, 0, 10);
    r.integer("SIDEBAND_SESSION_CONNECT_TIMEOUT_MS", s.sessionConnectTimeoutMs, 1, 120000);
    r.integer("SIDEBAND_SESSION_WORKERS", s.sessionWorkers, 1, 64);
    r.integer("SIDEBAND_SESSION_CONNECTORS", s.sessionConnectors, 1, 256);
    r.integer("SIDEBAND_SESSION_PING_INTERVAL_MS", s.sessionPingIntervalMs, 1, 3600 * 1000);
    r.integer("SIDEBAND_SESSION_PING_TIMEOUT_MS", s.sessionPingTimeoutMs, 1, 3600 * 1000);
    r.integer("SIDEBAND_REJECT_SIP_STATUS_CAPACITY", s.rejectStatusCapacity, 400, 699);
    r.integer("SIDEBAND_REJECT_SIP_STATUS", s.rejectStatusOther, 400, 699);
    r.integer("MAX_CONCURRENT_CALLS", s.maxConcurrentCalls, 0, 1000000);
    r.integer("MAX_CONCURRENT_CALLS_PER_TENANT", s.maxConcurrentCallsPerTenant, 0, 1000000);
    r.integer("SIDEBAND_PENDING_TIMEOUT_S", s.pendingTimeoutSeconds, 1, 86400);
    r.integer("SIDEBAND_MAX_CALL_S", s.maxCallSeconds, 1, 7 * 86400);
    r.text("DOWNTIME_PROMPT", s.downtimePrompt);
    r.text("DOWNTIME_GREETING", s.downtimeGreeting);
    r.text("SIDEBAND_DB", s.database);
    r.integer("SIDEBAND_TENANT_CACHE_MS", s.tenantCacheMs, 0, 3600 * 1000);
    r.text("SIDEBAND_PLUGIN_DIR", s.pluginDir);
    r.text("SIDEBAND_STATE_DIR", s.stateDir);
    r.text("SIDEBAND_PLUGIN_ISOLATION", s.pluginIsolation);
    r.text("SIDEBAND_PLUGIN_RUNNER", s.pluginRunner);
    r.integer("SIDEBAND_PLUGIN_MEMORY_MB", s.pluginMemoryMb, 64, 1024 * 1024);
    r.integer("SIDEBAND_PLUGIN_CPU_SECONDS", s.pluginCpuSeconds, 0, 365 * 86400);
    r.integer("SIDEBAND_PLUGIN_TOOL_THREADS", s.pluginToolThreads, 1, 256);
    r.integer("SIDEBAND_PLUGIN_START_TIMEOUT_MS", s.pluginStartTimeoutMs, 100, 600000);
    if (s.pluginIsolation != "process" && s.pluginIsolation != "in_process")
        problems.push_back("SIDEBAND_PLUGIN_ISOLATION must be process or in_process");
    r.integer("SIDEBAND_TOOL_THREADS", s.toolThreads, 1, 256);
    // Half the pool by default: one tenant whose tools hang leaves the other half to everyone else.
    s.toolConcurrencyPerTenant = std::max(1, s.toolThreads / 2);
    r.integer("SIDEBAND_TOOL_CONCURRENCY_PER_TENANT", s.toolConcurrencyPerTenant, 1, 256);
    if (s.toolConcurrencyPerTenant > s.toolThreads)
        problems.push_back("SIDEBAND_TOOL_CONCURRENCY_PER_TENANT must not exceed SIDEBAND_TOOL_THREADS (" +
                           std::to_string(s.toolThreads) + ")");
    r.integer("SIDEBAND_TOOL_QUEUE_PER_TENANT", s.toolQueuePerTenant, 0, 1000000);
    r.text("SIDEBAND_LOG_FORMAT", s.logFormat);
    r.text("SIDEBAND_LOG_LEVEL", s.logLevel);
    r.integer("SIDEBAND_DRAIN_TIMEOUT_S", s.drainSeconds, 0, 86400);
    r.text("SIDEBAND_DRAIN_NEW_CALLS", s.drainNewCalls);
    if (s.drainNewCalls != "auto" && s.drainNewCalls != "reject" && s.drainNewCalls != "redeliver")
        problems.push_back("SIDEBAND_DRAIN_NEW_CALLS must be auto, reject or redeliver");
    r.text("SIDEBAND_LEDGER", s.ledger);
    if (s.ledger != "memory" && s.ledger.rfind("redis://", 0) != 0)
        problems.push_back("SIDEBAND_LEDGER must be memory or a redis://host:port URL");
    r.text("SIDEBAND_REPLICA_ID", s.replicaId);
    r.text("SIDEBAND_REDIS_PREFIX", s.redisPrefix);
    r.integer("SIDEBAND_REDIS_TIMEOUT_MS", s.redisTimeoutMs, 1, 60000);
    r.integer("SIDEBAND_LEASE_TTL_MS", s.leaseTtlMs, 100, 3600 * 1000);
    r.flag("SIDEBAND_WEBRTC", s.webrtc);
    r.flag("SIDEBAND_WEBRTC_PAGE", s.webrtcPage);
    r.text("SIDEBAND_WEBRTC_ORIGINS", s.webrtcOrigins);
    r.integer("SIDEBAND_WEBRTC_EVENT_LOGS", s.webrtcEventLogs, 0, 1000000);
    if (s.logFormat != "human" && s.logFormat != "json")
        problems.push_back("SIDEBAND_LOG_FORMAT must be human or json");
    // spdlog reads an unknown level name as "off": refuse it rather than run without logs.
    if (s.logLevel != "off" && spdlog::level::from_str(s.logLevel) == spdlog::level::off)
        problems.push_back("SIDEBAND_LOG_LEVEL must be one of trace, debug, info, warn, error, critical, off");
    return s;
}

Settings::Lookup Settings::environmentThenFile(const std::string& configFile) {
    Poco::AutoPtr<Poco::Util::PropertyFileConfiguration> file;
    if (!configFile.empty()) file = new Poco::Util::PropertyFileConfiguration(configFile);
    return [file](const std::string& name) -> std::optional<std::string> {
        if (Poco::Environment::has(name)) return Poco::Environment::get(name);
        if (file && file->hasProperty(name)) return file->getString(name);
        return std::nullopt;
    };
}

std::vector<std::string> Settings::validate() const {
    std::vector<std::string> problems;
    if (tlsCert.empty() != tlsKey.empty())
        problems.push_back("SIDEBAND_TLS_CERT and SIDEBAND_TLS_KEY must be set together");
    if (tlsCert.empty() && !insecureHttp)
        problems.push_back("refusing to serve without TLS: set SIDEBAND_TLS_CERT and SIDEBAND_TLS_KEY, or "
                           "SIDEBAND_INSECURE_HTTP=1 behind a TLS-terminating proxy");
    if (webhookSecret.empty()) {
        problems.push_back("OPENAI_WEBHOOK_SECRET is not set");
    } else {
        try {
            if (webhook::parseWebhookSecrets(webhookSecret).empty())
                problems.push_back("OPENAI_WEBHOOK_SECRET holds no secret");
        } catch (const std::invalid_argument& e) {
            problems.push_back(std::string("OPENAI_WEBHOOK_SECRET: ") + e.what());
        }
    }
    if (openaiApiKey.empty()) problems.push_back("OPENAI_API_KEY is not set");
    return problems;
}

} // namespace sideband
