#pragma once

#include "calls/CallLedger.h"
#include "calls/SessionLauncher.h"
#include "core/Clock.h"
#include "metrics/MetricsRegistry.h"
#include "openai/TlsSessionCache.h"
#include "tenants/TenantStore.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/PollSet.h>
#include <Poco/NotificationQueue.h>
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
    std::chrono::milliseconds connectTimeout{5000};
    int connectAttempts = 3;                      // transient failures (timeout, refused) are retried with backoff
    std::chrono::milliseconds frameTimeout{5000}; // a frame that started must finish within this
    int workers = 4;                              // read and handle frames of open sessions
    int connectors = 8; // open sessions (TLS handshake, upgrade, retries): mostly waiting on the network
};

// Runs the sideband WebSocket of every accepted call without a thread per call: one poll thread
// watches all idle sockets, and a small worker pool reads a frame when one is ready, handles it
// and re-arms the socket. Connects run on a pool of their own, at a lower CPU priority: a connect
// waits on the network for round trips (and on retries for seconds), and neither that nor its
// handshake's CPU may hold up a tool call in a call already open, or a webhook's answer.
// Implements the pipeline's SessionLauncher: it owns a launched call's ledger slot until the call
// ends.
class SessionManager final : public calls::SessionLauncher {
public:
    SessionManager(SessionOptions options, calls::CallLedger& ledger, tenants::TenantStore& store,
                   metrics::MetricsRegistry& metrics, const Clock& clock);
    ~SessionManager() override;

    void launch(calls::AcceptedCall call) override;
    void endCall(const std::string& callId, const std::string& reason) override;

    // Closes every session (reason "shutdown") and stops the threads.
    void stop();
    std::size_t activeSessions() const;
    // Blocks until no session is open or the deadline passes; true when none is left.
    bool waitUntilIdle(std::chrono::milliseconds deadline) const;

    // For SidebandSession.
    void post(std::function<void()> task);
    void arm(const std::shared_ptr<SidebandSession>& session);
    void finished(const std::string& callId, const std::string& reason);
    calls::CallLedger& ledger() { return ledger_; }
    tenants::TenantStore& store() { return store_; }
    metrics::MetricsRegistry& metrics() { return metrics_; }
    const Clock& clock() const { return clock_; }
    const SessionOptions& options() const { return options_; }
    const Poco::URI& socketUri() const { return socketUri_; }
    Poco::Net::Context::Ptr tlsContext() const { return context_; }
    Poco::Net::Session::Ptr resumableTlsSession() { return tlsSessions_ ? tlsSessions_->take() : nullptr; }

private:
    void pollLoop();
    static void serve(Poco::NotificationQueue& queue);

    SessionOptions options_;
    calls::CallLedger& ledger_;
    tenants::TenantStore& store_;
    metrics::MetricsRegistry& metrics_;
    const Clock& clock_;
    Poco::URI socketUri_;
    Poco::Net::Context::Ptr context_;
    std::unique_ptr<openai::TlsSessionCache> tlsSessions_; // one connection per call: resume, do not renegotiate

    mutable std::mutex sessionsMutex_;
    mutable std::condition_variable sessionsChanged_;
    std::unordered_map<std::string, std::shared_ptr<SidebandSession>> sessions_;

    Poco::Net::PollSet pollSet_;
    std::mutex armedMutex_;
    std::condition_variable armedChanged_;                          // the poller waits on it while no socket is armed
    std::unordered_map<int, std::weak_ptr<SidebandSession>> armed_; // by socket fd

    Poco::NotificationQueue tasks_;    // frame reads and closes, served by the workers
    Poco::NotificationQueue connects_; // session connects, served by the connectors

    std::atomic<bool> running_{true};
    std::thread poller_;
    std::vector<std::thread> workers_;
    std::vector<std::thread> connectors_;
};

} // namespace sideband::sessions
