#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sideband {

// Every setting the host reads. Each one has an environment variable of the same name, and may
// also be written as `NAME = value` in the file given with --config; the environment wins.
struct Settings {
    // Listener
    std::string listen = "0.0.0.0:8443"; // SIDEBAND_LISTEN
    std::string metricsListen;           // SIDEBAND_METRICS_LISTEN (empty: same listener)
    std::string tlsCert;                 // SIDEBAND_TLS_CERT
    std::string tlsKey;                  // SIDEBAND_TLS_KEY
    bool insecureHttp = false;           // SIDEBAND_INSECURE_HTTP=1
    int httpThreads = 8;                 // SIDEBAND_HTTP_THREADS (workers running webhooks)
    int httpQueue = 1024;                // SIDEBAND_HTTP_QUEUE
    int ioThreads = 2;                   // SIDEBAND_IO_THREADS (event loops owning every socket)
    int maxConnections = 10000;          // SIDEBAND_MAX_CONNECTIONS
    int tlsHandshakeTimeoutMs = 10000;   // SIDEBAND_TLS_HANDSHAKE_TIMEOUT_MS
    int headTimeoutMs = 10000;           // SIDEBAND_HTTP_HEAD_TIMEOUT_MS
    int bodyTimeoutMs = 30000;           // SIDEBAND_HTTP_BODY_TIMEOUT_MS
    int idleTimeoutMs = 60000;           // SIDEBAND_HTTP_IDLE_TIMEOUT_MS

    // Secrets (never logged)
    std::string webhookSecret; // OPENAI_WEBHOOK_SECRET
    std::string openaiApiKey;  // OPENAI_API_KEY

    // OpenAI
    std::string openaiBaseUrl = "https://api.openai.com/v1"; // OPENAI_BASE_URL
    std::string openaiCaFile;                                // SIDEBAND_OPENAI_CA_FILE (added to the system CAs)
    int openaiConnectTimeoutMs = 2000;                       // SIDEBAND_OPENAI_CONNECT_TIMEOUT_MS
    int openaiTimeoutMs = 5000;                              // SIDEBAND_OPENAI_TIMEOUT_MS
    int openaiRetries = 2;                                   // SIDEBAND_OPENAI_RETRIES
    int sessionConnectTimeoutMs = 5000;                      // SIDEBAND_SESSION_CONNECT_TIMEOUT_MS
    int sessionWorkers = 4;                                  // SIDEBAND_SESSION_WORKERS
    int sessionConnectors = 4;                               // SIDEBAND_SESSION_CONNECTORS
    int sessionPingIntervalMs = 15000;                       // SIDEBAND_SESSION_PING_INTERVAL_MS
    int sessionPingTimeoutMs = 10000;                        // SIDEBAND_SESSION_PING_TIMEOUT_MS
    int rejectStatusCapacity = 486;                          // SIDEBAND_REJECT_SIP_STATUS_CAPACITY
    int rejectStatusOther = 603;                             // SIDEBAND_REJECT_SIP_STATUS

    // Calls
    int maxConcurrentCalls = 100;                   // MAX_CONCURRENT_CALLS
    std::optional<int> maxConcurrentCallsPerTenant; // MAX_CONCURRENT_CALLS_PER_TENANT
    int pendingTimeoutSeconds = 60;                 // SIDEBAND_PENDING_TIMEOUT_S
    int maxCallSeconds = 4 * 3600;                  // SIDEBAND_MAX_CALL_S
    std::string downtimePrompt;                     // DOWNTIME_PROMPT
    std::string downtimeGreeting;                   // DOWNTIME_GREETING

    // State and plugins
    std::string database = "sqlite:sideband.db"; // SIDEBAND_DB
    int tenantCacheMs = 1000;                    // SIDEBAND_TENANT_CACHE_MS (0: read the store every call)
    std::string pluginDir = "plugins";           // SIDEBAND_PLUGIN_DIR
    std::string stateDir;                        // SIDEBAND_STATE_DIR (plugins' own files; exported to them)
    // Plugin isolation (docs/plugins.md): each tenant's plugin in its own sandboxed process.
    std::string pluginIsolation = "process"; // SIDEBAND_PLUGIN_ISOLATION (process|in_process), per tenant "isolation"
    std::string pluginRunner;                // SIDEBAND_PLUGIN_RUNNER (default: next to sideband-host, or libexec)
    int pluginMemoryMb = 1024;               // SIDEBAND_PLUGIN_MEMORY_MB (address space per runner)
    int pluginCpuSeconds = 3600;             // SIDEBAND_PLUGIN_CPU_SECONDS (per runner process; 0: unlimited)
    int pluginToolThreads = 4;               // SIDEBAND_PLUGIN_TOOL_THREADS (per runner)
    int pluginStartTimeoutMs = 10000;        // SIDEBAND_PLUGIN_START_TIMEOUT_MS
    int toolThreads = 8;                     // SIDEBAND_TOOL_THREADS
    int toolConcurrencyPerTenant = 4;        // SIDEBAND_TOOL_CONCURRENCY_PER_TENANT (default: threads/2, >= 1)
    int toolQueuePerTenant = 64;             // SIDEBAND_TOOL_QUEUE_PER_TENANT

    // Operations
    std::string logFormat = "human"; // SIDEBAND_LOG_FORMAT (human|json)
    std::string logLevel = "info";   // SIDEBAND_LOG_LEVEL
    int drainSeconds = 30;           // SIDEBAND_DRAIN_TIMEOUT_S
    // What a draining host answers a new incoming call: `reject` it (SIP 486), or `redeliver`
    // (webhook 503: OpenAI redelivers it, to another replica). `auto`: redeliver with a shared ledger.
    std::string drainNewCalls = "auto"; // SIDEBAND_DRAIN_NEW_CALLS (auto|reject|redeliver)

    // Several replicas (docs/operations.md, "A fleet"): capacity ledger and webhook ids in Redis.
    std::string ledger = "memory";         // SIDEBAND_LEDGER (memory | redis://[:password@]host:port[/db])
    std::string replicaId;                 // SIDEBAND_REPLICA_ID (default: hostname-pid-random, new each start)
    std::string redisPrefix = "sideband:"; // SIDEBAND_REDIS_PREFIX (keys; one per fleet sharing a Redis)
    int redisTimeoutMs = 500;              // SIDEBAND_REDIS_TIMEOUT_MS (connect, and each command)
    int leaseTtlMs = 30000;                // SIDEBAND_LEASE_TTL_MS (a dead replica's slots are freed after this)

    // Browsers' WebRTC calls (docs/webrtc.md): POST /api/v1/webrtc/calls with a tenant's web token.
    bool webrtc = true;         // SIDEBAND_WEBRTC (1|0): the API; every call still needs a token
    bool webrtcPage = false;    // SIDEBAND_WEBRTC_PAGE (1|0): the try-it page at /webrtc/
    std::string webrtcOrigins;  // SIDEBAND_WEBRTC_ORIGINS: comma-separated origins answered with CORS
    int webrtcEventLogs = 1000; // SIDEBAND_WEBRTC_EVENT_LOGS: calls whose live event log is kept (0: none)

    bool sharedLedger() const { return ledger != "memory"; }
    bool redeliverWhileDraining() const {
        return drainNewCalls == "redeliver" || (drainNewCalls == "auto" && sharedLedger());
    }

    // Looks a name up: environment first, then the config file.
    using Lookup = std::function<std::optional<std::string>(const std::string& name)>;

    // Reads every setting through `lookup`. Values that do not parse are reported in `problems`
    // (one line each, naming the variable, never its value when it is a secret).
    static Settings load(const Lookup& lookup, std::vector<std::string>& problems);

    // Environment, then the given key=value file (may be empty: no file).
    static Lookup environmentThenFile(const std::string& configFile);

    // Problems that stop the host from serving (no TLS and no explicit insecure mode, no secret...).
    std::vector<std::string> validate() const;
};

} // namespace sideband
