#include "sessions/SessionManager.h"

#include "openai/OpenAIRestClient.h"
#include "sessions/SidebandSession.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace sideband::sessions {
namespace {

class Task final : public Poco::Notification {
public:
    explicit Task(std::function<void()> run) : run(std::move(run)) {}
    std::function<void()> run;
};

constexpr auto kPollInterval = std::chrono::milliseconds(200);
// Connectors yield the CPU to webhook answers and frame handling when the cores are busy (a TLS
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
                               metrics::MetricsRegistry& metrics, const Clock& clock)
    : options_(std::move(options)), ledger_(ledger), store_(store), metrics_(metrics), clock_(clock),
      socketUri_(realtimeSocketUri(options_.baseUrl)) {
    if (socketUri_.getScheme() == "wss") {
        context_ = openai::makeVerifyingClientContext(options_.caFile);
        // Idle calls are the common case: let OpenSSL free a connection's buffers between reads.
        SSL_CTX_set_mode(context_->sslContext(), SSL_MODE_RELEASE_BUFFERS);
        tlsSessions_ = std::make_unique<openai::TlsSessionCache>(context_);
    }
    poller_ = std::thread([this] { pollLoop(); });
    for (int i = 0; i < options_.workers; ++i)
        workers_.emplace_back([this] { serve(tasks_); });
    for (int i = 0; i < options_.connectors; ++i)
        connectors_.emplace_back([this] {
            lowerThisThreadsPriority();
            serve(connects_);
        });
}

SessionManager::~SessionManager() {
    stop();
}

void SessionManager::launch(calls::AcceptedCall call) {
    auto session = std::make_shared<SidebandSession>(*this, std::move(call));
    {
        std::lock_guard lock(sessionsMutex_);
        sessions_[session->callId()] = session;
    }
    connects_.enqueueNotification(new Task([this, session] {
        if (session->connect()) arm(session);
    }));
}

void SessionManager::endCall(const std::string& callId, const std::string& reason) {
    std::shared_ptr<SidebandSession> session;
    {
        std::lock_guard lock(sessionsMutex_);
        auto it = sessions_.find(callId);
        if (it == sessions_.end()) return;
        session = it->second;
    }
    post([session, reason] { session->close(reason); });
}

void SessionManager::post(std::function<void()> task) {
    tasks_.enqueueNotification(new Task(std::move(task)));
}

void SessionManager::arm(const std::shared_ptr<SidebandSession>& session) {
    const int fd = session->socketFd();
    if (fd < 0) return;
    {
        std::lock_guard lock(armedMutex_);
        if (!running_) return;
        armed_[fd] = session;
        pollSet_.add(session->socket(), Poco::Net::PollSet::POLL_READ | Poco::Net::PollSet::POLL_ERROR);
    }
    armedChanged_.notify_one();
}

void SessionManager::finished(const std::string& callId, const std::string&) {
    std::shared_ptr<SidebandSession> session;
    {
        std::lock_guard lock(sessionsMutex_);
        auto it = sessions_.find(callId);
        if (it != sessions_.end()) {
            session = it->second;
            sessions_.erase(it);
        }
    }
    sessionsChanged_.notify_all();
    if (session && session->socketFd() >= 0) {
        std::lock_guard lock(armedMutex_);
        if (armed_.erase(session->socketFd())) pollSet_.remove(session->socket());
    }
}

void SessionManager::pollLoop() {
    while (running_) {
        Poco::Net::PollSet::SocketModeMap ready;
        try {
            ready = pollSet_.poll(Poco::Timespan(std::chrono::microseconds(kPollInterval).count()));
        } catch (const Poco::Exception& e) {
            spdlog::error("session poll failed: {}", e.displayText());
            std::this_thread::sleep_for(kPollInterval);
            continue;
        }
        if (ready.empty() && pollSet_.empty()) {
            // Poco's poll returns at once on an empty set: sleep until a socket is armed instead
            // of waking a thousand times a second on an idle host.
            std::unique_lock lock(armedMutex_);
            armedChanged_.wait(lock, [this] { return !running_ || !pollSet_.empty(); });
            continue;
        }
        for (const auto& [socket, mode] : ready) {
            std::shared_ptr<SidebandSession> session;
            {
                std::lock_guard lock(armedMutex_);
                auto it = armed_.find(static_cast<int>(socket.impl()->sockfd()));
                if (it == armed_.end()) continue;
                session = it->second.lock();
                armed_.erase(it);
                pollSet_.remove(socket); // one reader at a time: re-armed after the frame is handled
            }
            if (session)
                post([this, session] {
                    if (session->onReadable()) arm(session);
                });
        }
    }
}

void SessionManager::serve(Poco::NotificationQueue& queue) {
    for (;;) {
        Poco::AutoPtr<Poco::Notification> notification(queue.waitDequeueNotification());
        auto& task = static_cast<Task&>(*notification);
        if (!task.run) return; // stop()'s quit task: everything queued before it has run
        try {
            task.run();
        } catch (const std::exception& e) {
            spdlog::error("session task failed: {}", e.what());
        }
    }
}

void SessionManager::stop() {
    std::vector<std::shared_ptr<SidebandSession>> open;
    {
        std::lock_guard lock(sessionsMutex_);
        for (const auto& [id, session] : sessions_)
            open.push_back(session);
    }
    for (const auto& session : open)
        session->close("shutdown");
    {
        std::lock_guard lock(armedMutex_);
        running_ = false;
    }
    armedChanged_.notify_all();
    if (poller_.joinable()) poller_.join();
    for (std::size_t i = 0; i < workers_.size(); ++i)
        tasks_.enqueueNotification(new Task(nullptr));
    for (std::size_t i = 0; i < connectors_.size(); ++i)
        connects_.enqueueNotification(new Task(nullptr)); // queued connects before it find their call closed
    for (auto* pool : {&workers_, &connectors_}) {
        for (auto& thread : *pool)
            if (thread.joinable()) thread.join();
        pool->clear();
    }
    std::lock_guard lock(armedMutex_);
    armed_.clear();
    pollSet_.clear();
}

std::size_t SessionManager::activeSessions() const {
    std::lock_guard lock(sessionsMutex_);
    return sessions_.size();
}

bool SessionManager::waitUntilIdle(std::chrono::milliseconds deadline) const {
    std::unique_lock lock(sessionsMutex_);
    return sessionsChanged_.wait_for(lock, deadline, [this] { return sessions_.empty(); });
}

} // namespace sideband::sessions
