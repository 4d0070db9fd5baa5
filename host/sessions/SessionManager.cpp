#include "sessions/SessionManager.h"

#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "openai/OpenAIRestClient.h"
#include "sessions/SidebandSession.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <future>

namespace sideband::sessions {
namespace {

// Connectors yield the CPU to webhook answers and message handling when the cores are busy (a TLS
// handshake costs about a millisecond of CPU); an idle machine runs them at full speed all the same.
constexpr int kConnectorNice = 5;

void lowerThisThreadsPriority() {
    // Linux: PRIO_PROCESS with a thread id changes that thread only. Raising one's own nice value
    // needs no privilege; failing to is harmless.
    const auto self = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int current = getpriority(PRIO_PROCESS, self);
    if (errno == 0) setpriority(PRIO_PROCESS, self, current + kConnectorNice);
}

Poco::URI realtimeSocketUri(const std::string& baseUrl) {
    Poco::URI uri(baseUrl);
    if (uri.getScheme() == "https")
        uri.setScheme("wss");
    else if (uri.getScheme() == "http")
        uri.setScheme("ws");
    else
        throw std::invalid_argument("OPENAI_BASE_URL must be an http(s) URL");
    // setScheme keeps the explicit port; the default one follows the new scheme.
    uri.setPath(uri.getPath() + "/realtime");
    return uri;
}

} // namespace

SessionManager::SessionManager(SessionOptions options, calls::CallLedger& ledger, tenants::TenantStore& store,
                               metrics::MetricsRegistry& metrics, const Clock& clock, openai::CallControl* callControl)
    : options_(std::move(options)), ledger_(ledger), store_(store), metrics_(metrics), clock_(clock),
      socketUri_(realtimeSocketUri(options_.baseUrl)), callControl_(callControl) {
    if (socketUri_.getScheme() == "wss") {
        context_ = openai::makeVerifyingClientContext(options_.caFile);
        // Idle calls are the common case: let OpenSSL free a connection's buffers between reads.
        // The stream's outbox may grow (and move) between a write OpenSSL could not finish and its
        // retry; without this OpenSSL refuses the retry ("bad write retry") and the call ends.
        SSL_CTX_set_mode(context_->sslContext(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                                     SSL_MODE_ENABLE_PARTIAL_WRITE);
        tlsSessions_ = std::make_unique<openai::TlsSessionCache>(context_);
    }
    if (options_.loops) {
        loops_ = options_.loops;
    } else {
        ownLoops_ = std::make_unique<io::EventLoops>("sessions", 1);
        loops_ = ownLoops_.get();
    }
    // Bounded by the sessions themselves: each has at most one task queued.
    workers_ = std::make_unique<io::WorkerPool>("session worker", options_.workers, std::size_t(1) << 30);
    // Connects wait their turn here (one per launched call, so as many as calls being placed).
    connectors_ = std::make_unique<io::WorkerPool>("session connector", options_.connectors, std::size_t(1) << 30,
                                                   lowerThisThreadsPriority);
}

SessionManager::~SessionManager() {
    stop();
}

void SessionManager::launch(calls::AcceptedCall call) {
    auto session = std::make_shared<SidebandSession>(*this, std::move(call), loops_->next());
    {
        std::lock_guard lock(sessionsMutex_);
        sessions_[session->callId()] = session;
    }
    if (!connectors_->trySubmit([session] { session->connect(); }))
        session->close("session_connect_failed", SidebandSession::EndedBy::Host);
}

void SessionManager::endCall(const std::string& callId, const std::string& reason) {
    std::shared_ptr<SidebandSession> session;
    {
        std::lock_guard lock(sessionsMutex_);
        auto it = sessions_.find(callId);
        if (it == sessions_.end()) return;
        session = it->second;
    }
    // On a worker: ending runs the plugin's callEnded hook and writes the call record.
    runOnWorker([session, reason] { session->close(reason); });
}

void SessionManager::hangUp(const std::string& callId, const std::string& tenantId, const std::string& reason) {
    std::shared_ptr<SidebandSession> session;
    {
        std::lock_guard lock(sessionsMutex_);
        if (auto it = sessions_.find(callId); it != sessions_.end()) session = it->second;
    }
    // With a session, its end sends the hangup (once); without one (never connected), here.
    if (session)
        runOnWorker([session, reason] { session->close(reason, SidebandSession::EndedBy::Host); });
    else
        hangUpAtOpenAI(callId, tenantId, reason);
}

void SessionManager::hangUpAtOpenAI(const std::string& callId, const std::string& tenantId, const std::string& reason) {
    if (!callControl_) return;
    auto task = [this, callId, tenantId, reason] {
        const auto until = hangupsUntil_.load();
        if (until != 0 && std::chrono::steady_clock::now().time_since_epoch().count() > until) {
            metrics_.increment(metrics::name::kHangups, {{"reason", reason}, {"result", "skipped"}});
            logging::forCall(callId, tenantId)
                .warn("REST hangup ({}) not sent: the shutdown's time for it is over", reason);
            return;
        }
        const auto result = callControl_->hangup(callId, "hangup_" + callId);
        const char* outcome = result.ok() ? "ok" : result.notFound() ? "not_found" : "failed";
        metrics_.increment(metrics::name::kHangups, {{"reason", reason}, {"result", outcome}});
        if (result.ok() || result.notFound())
            logging::forCall(callId, tenantId).info("hung up at OpenAI ({})", reason);
        else
            logging::forCall(callId, tenantId).error("REST hangup ({}) failed: {}", reason, result.error);
    };
    // Called on a loop: never run the REST call here, even if the connectors refused it.
    if (!connectors_->trySubmit(task)) {
        metrics_.increment(metrics::name::kHangups, {{"reason", reason}, {"result", "skipped"}});
        logging::forCall(callId, tenantId).error("REST hangup ({}) not sent: the connector queue is full", reason);
    }
}

void SessionManager::runOnWorker(std::function<void()> task) {
    if (!workers_->trySubmit(std::move(task))) spdlog::error("session worker queue full: a task was dropped");
}

void SessionManager::finished(const std::string& callId, const std::string&) {
    {
        std::lock_guard lock(sessionsMutex_);
        sessions_.erase(callId);
    }
    sessionsChanged_.notify_all();
}

void SessionManager::stop() {
    if (stopped_.exchange(true)) return;
    std::vector<std::shared_ptr<SidebandSession>> open;
    {
        std::lock_guard lock(sessionsMutex_);
        for (const auto& [id, session] : sessions_)
            open.push_back(session);
    }
    hangupsUntil_ = (std::chrono::steady_clock::now() + kShutdownHangupBudget).time_since_epoch().count();
    for (const auto& session : open)
        session->close("shutdown", SidebandSession::EndedBy::Host);
    workers_->stop();    // a close an ended webhook queued runs now; its hangup is posted to a loop
    waitForLoops();      // close frames written, hangups handed to the connectors
    connectors_->stop(); // queued connects find their call closed; queued hangups go out (within the budget)
    // Whatever is still open now is dropped.
    for (const auto& session : open)
        session->abort();
    waitForLoops();
    if (ownLoops_) ownLoops_->stop();
}

void SessionManager::waitForLoops() {
    for (std::size_t i = 0; i < loops_->size(); ++i) {
        std::promise<void> done;
        loops_->at(i).post([&] { done.set_value(); });
        done.get_future().wait();
    }
}

std::size_t SessionManager::activeSessions() const {
    std::lock_guard lock(sessionsMutex_);
    return sessions_.size();
}

std::map<std::string, std::size_t> SessionManager::sessionsByState() const {
    std::map<std::string, std::size_t> counts{{"connecting", 0}, {"open", 0}};
    std::lock_guard lock(sessionsMutex_);
    for (const auto& [id, session] : sessions_) {
        if (session->state() == SidebandSession::State::Connecting) ++counts["connecting"];
        if (session->state() == SidebandSession::State::Open) ++counts["open"];
    }
    return counts;
}

bool SessionManager::waitUntilIdle(std::chrono::milliseconds deadline) const {
    std::unique_lock lock(sessionsMutex_);
    return sessionsChanged_.wait_for(lock, deadline, [this] { return sessions_.empty(); });
}

} // namespace sideband::sessions
