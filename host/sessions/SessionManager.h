#pragma once

#include "calls/CallLedger.h"
#include "calls/SessionLauncher.h"
#include "core/Clock.h"
#include "io/EventLoop.h"
#include "io/WorkerPool.h"
#include "metrics/MetricsRegistry.h"
#include "openai/CallControl.h"
#include "openai/TlsSessionCache.h"
#include "tenants/TenantStore.h"

#include <Poco/Net/Context.h>
#include <Poco/URI.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sideband::sessions {

class SidebandSession;

struct SessionOptions {
    std::string baseUrl = "https://api.openai.com/v1"; // wss/ws follows https/http
    std::string apiKey;
    std::string caFile;
    std::chrono::milliseconds connectTimeout{5000}; // connect + TLS + upgrade, whole
    int connectAttempts = 3;                        // transient failures (timeout, refused) are retried with backoff
    int workers = 4;                                // handle whole messages (JSON, tools) of open sessions
    int connectors = 4; // open sessions (TLS handshake, upgrade, retries): mostly waiting on the network
    std::chrono::milliseconds pingInterval{15000}; // a WebSocket ping this often
    std::chrono::milliseconds pingTimeout{10000};  // nothing heard this long after a ping: peer_unresponsive
    io::EventLoops* loops = nullptr;               // shared with the listeners; null: one loop of its own
};

// Runs the sideband WebSocket of every accepted call without a thread per call or a thread per
// read: the event loops own the sockets (framing by wslay, pings, deadlines), a small worker pool
// handles whole messages, and connects run on a pool of their own at a lower CPU priority (a
// connect waits on the network for round trips, and on retries for seconds; neither may hold up a
// tool call in a call already open, or a webhook's answer).
// Implements the pipeline's SessionLauncher: it owns a launched call's ledger slot until the call
// ends.
class SessionManager final : public calls::SessionLauncher {
public:
    // `callControl` (may be null: nothing is hung up) sends REST hangup for calls the host ends.
    SessionManager(SessionOptions options, calls::CallLedger& ledger, tenants::TenantStore& store,
                   metrics::MetricsRegistry& metrics, const Clock& clock, openai::CallControl* callControl = nullptr);
    ~SessionManager() override;

    void launch(calls::AcceptedCall call) override;
    void endCall(const std::string& callId, const std::string& reason) override;
    void hangUp(const std::string& callId, const std::string& tenantId, const std::string& reason) override;

    // Closes every session (reason "shutdown") and stops the threads.
    void stop();
    std::size_t activeSessions() const;
    // Blocks until no session is open or the deadline passes; true when none is left.
    bool waitUntilIdle(std::chrono::milliseconds deadline) const;
    // Sessions per state ("connecting", "open") and the worker queue, for /metrics.
    std::map<std::string, std::size_t> sessionsByState() const;
    std::size_t queuedMessages() const { return workers_->queued(); }

    // For SidebandSession.
    void runOnWorker(std::function<void()> task);
    void finished(const std::string& callId, const std::string& reason);
    // REST hangup (key hangup_{call id}) on a connector thread, for a call the host ended itself.
    // After stop() has begun, only within kShutdownHangupBudget: a hung API cannot hold the exit.
    void hangUpAtOpenAI(const std::string& callId, const std::string& tenantId, const std::string& reason);
    calls::CallLedger& ledger() { return ledger_; }
    tenants::TenantStore& store() { return store_; }
    metrics::MetricsRegistry& metrics() { return metrics_; }
    const Clock& clock() const { return clock_; }
    const SessionOptions& options() const { return options_; }
    const Poco::URI& socketUri() const { return socketUri_; }
    Poco::Net::Context::Ptr tlsContext() const { return context_; }
    Poco::Net::Session::Ptr resumableTlsSession() { return tlsSessions_ ? tlsSessions_->take() : nullptr; }

private:
    void waitForLoops(); // until every loop has run what was posted to it before

    SessionOptions options_;
    calls::CallLedger& ledger_;
    tenants::TenantStore& store_;
    metrics::MetricsRegistry& metrics_;
    const Clock& clock_;
    Poco::URI socketUri_;
    Poco::Net::Context::Ptr context_;
    std::unique_ptr<openai::TlsSessionCache> tlsSessions_; // one connection per call: resume, do not renegotiate
    std::unique_ptr<io::EventLoops> ownLoops_;
    io::EventLoops* loops_ = nullptr;

    mutable std::mutex sessionsMutex_;
    mutable std::condition_variable sessionsChanged_;
    std::unordered_map<std::string, std::shared_ptr<SidebandSession>> sessions_;

    std::unique_ptr<io::WorkerPool> workers_;    // at most one task per session is queued at a time
    std::unique_ptr<io::WorkerPool> connectors_; // session connects and hangups, at a lower CPU priority
    openai::CallControl* callControl_ = nullptr;
    std::atomic<bool> stopped_{false};
    static constexpr std::chrono::seconds kShutdownHangupBudget{5};
    std::atomic<std::chrono::steady_clock::rep> hangupsUntil_{0}; // 0: no deadline (not stopping)
};

} // namespace sideband::sessions
