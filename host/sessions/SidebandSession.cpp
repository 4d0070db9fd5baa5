#include "sessions/SidebandSession.h"

#include "calls/CallEnd.h"
#include "core/Json.h"
#include "core/Logging.h"
#include "io/Stream.h"
#include "metrics/SidebandMetrics.h"
#include "openai/RealtimeEvents.h"
#include "sessions/SessionManager.h"
#include "websocket/WebSocketChannel.h"
#include "websocket/WebSocketUpgrade.h"

#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>

#include <spdlog/spdlog.h>

#include <thread>

namespace sideband::sessions {
namespace {

// A worker hands the session back after this many messages, so one chatty call cannot hold it.
constexpr int kMessagesPerTurn = 32;

// The part of an end reason before any detail ("read_error: ..." -> "read_error"): a label value.
std::string reasonLabel(const std::string& reason) {
    return reason.substr(0, reason.find(':'));
}

} // namespace

SidebandSession::SidebandSession(SessionManager& manager, calls::AcceptedCall call, io::EventLoop& loop)
    : manager_(manager), call_(std::move(call)), loop_(loop),
      turns_(call_, manager.metrics(), manager.store(), ended_,
             {[this](std::string text) { send(std::move(text)); }, [this] { return shared_from_this(); }}) {}

SidebandSession::~SidebandSession() = default;

websocket::UpgradedSocket SidebandSession::open() {
    std::string callId;
    Poco::URI::encode(call_.callId, "/?#%&+= ", callId);
    websocket::UpgradeRequest request;
    request.uri = manager_.socketUri();
    // No model parameter and no OpenAI-Beta header: the call's session already exists.
    request.uri.setRawQuery("call_id=" + callId);
    request.headers.emplace_back("Authorization", "Bearer " + manager_.options().apiKey);
    request.context = manager_.tlsContext();
    request.session = manager_.resumableTlsSession();
    request.timeout = manager_.options().connectTimeout;
    return websocket::upgrade(request);
}

bool SidebandSession::connect() {
    // Ended while the connect waited its turn (the caller hung up, the host is stopping): the call
    // is over, its slot released and its plugin told; opening its socket now would only start it again.
    if (ended_) return false;
    const auto& uri = manager_.socketUri();
    const auto connectStarted = std::chrono::steady_clock::now();
    auto backoff = std::chrono::milliseconds(200);
    std::shared_ptr<websocket::UpgradedSocket> socket;
    std::string failure;
    for (int attempt = 1;; ++attempt) {
        try {
            socket = std::make_shared<websocket::UpgradedSocket>(open());
            break;
        } catch (const Poco::Exception& e) {
            // The call is accepted and the caller is listening: a timeout or a refused connection
            // is worth another try. A bad certificate or an HTTP refusal of the upgrade is not.
            const bool timeout = dynamic_cast<const Poco::TimeoutException*>(&e) != nullptr;
            const bool refused = dynamic_cast<const Poco::Net::ConnectionRefusedException*>(&e) != nullptr;
            const bool reset = dynamic_cast<const Poco::Net::ConnectionResetException*>(&e) != nullptr;
            const bool transient = timeout || refused || reset;
            failure = timeout                                            ? "timeout"
                      : refused                                          ? "refused"
                      : reset                                            ? "reset"
                      : dynamic_cast<const Poco::Net::SSLException*>(&e) ? "tls"
                                                                         : "network";
            if (transient && attempt < manager_.options().connectAttempts && !ended_) {
                logging::forCall(call_.callId, call_.tenantId)
                    .warn("sideband connect attempt {} failed ({}), retrying", attempt, e.displayText());
                std::this_thread::sleep_for(backoff);
                backoff *= 2;
                continue;
            }
            logging::forCall(call_.callId, call_.tenantId)
                .error("sideband connect to {}://{}:{} failed: {}", uri.getScheme(), uri.getHost(), uri.getPort(),
                       e.displayText());
        } catch (const websocket::UpgradeRefused& e) {
            failure = "upgrade_refused";
            logging::forCall(call_.callId, call_.tenantId)
                .error("sideband connect to {}://{}:{} failed: {}", uri.getScheme(), uri.getHost(), uri.getPort(),
                       e.what());
        }
        manager_.metrics().increment(metrics::name::kSessions,
                                     {{"outcome", "connect_failed"}, {"channel", call_.channel}});
        manager_.metrics().increment(metrics::name::kSessionConnectFailures, {{"reason", failure}});
        end("session_connect_failed");
        return false;
    }
    manager_.metrics().observe(
        metrics::name::kSessionConnectSeconds,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - connectStarted).count());

    if (ended_) return false; // ended during the handshake: it is over already; the socket just closes
    startedAt_ = std::chrono::steady_clock::now().time_since_epoch().count();
    manager_.ledger().promote(call_.callId);
    manager_.metrics().increment(metrics::name::kSessions, {{"outcome", "started"}, {"channel", call_.channel}});
    logging::forCall(call_.callId, call_.tenantId).info("sideband session open");
    if (call_.observer) call_.observer->onCallEvent(callEvent("session.open"));
    if (call_.tools) {
        try {
            call_.tools->callStarted();
        } catch (const std::exception& e) {
            logging::forCall(call_.callId, call_.tenantId).warn("plugin callStarted failed: {}", e.what());
        }
    }
    std::vector<std::string> firstFrames{json::stringify(openai::realtime::sessionUpdate(call_))};
    if (!call_.instructions.greeting.empty()) {
        firstFrames.push_back(json::stringify(openai::realtime::greeting(call_.instructions)));
        turns_.greetingSent(firstFrames.back()); // refused (a response already running): sent again after it
    }
    auto self = shared_from_this();
    loop_.post([self, socket, frames = std::move(firstFrames)]() mutable { self->attach(socket, std::move(frames)); });
    return true;
}

void SidebandSession::attach(std::shared_ptr<websocket::UpgradedSocket> socket, std::vector<std::string> firstFrames) {
    if (ended_) {
        // Closed while the socket was on its way here: it just closes, without blocking the loop.
        socket->tcp.setBlocking(false);
        return;
    }
    std::weak_ptr<SidebandSession> weak = shared_from_this();
    websocket::WebSocketChannel::Callbacks callbacks;
    callbacks.onText = [weak](std::string text) {
        if (auto self = weak.lock()) self->onText(std::move(text));
    };
    callbacks.onHeard = [weak] {
        if (auto self = weak.lock()) self->lastHeard_ = self->loop_.now();
    };
    callbacks.onClosed = [weak](const std::string& reason, int) {
        if (auto self = weak.lock()) self->onChannelClosed(reason);
    };
    channel_ = std::make_shared<websocket::WebSocketChannel>(loop_, std::move(callbacks));
    std::shared_ptr<io::Stream> stream;
    try {
        stream = socket->tls ? io::Stream::adoptSecure(loop_, std::move(*socket->tls), socket->tcp, *channel_)
                             : io::Stream::create(loop_, socket->tcp, io::Stream::Tls::None, nullptr, *channel_);
    } catch (const Poco::Exception& e) {
        logging::forCall(call_.callId, call_.tenantId).warn("sideband socket unusable: {}", e.displayText());
        return onChannelClosed("disconnected");
    }
    state_ = State::Open;
    lastHeard_ = loop_.now();
    stream->enableKeepAlive(30, 10, 3); // a peer gone without a FIN is found even between pings
    channel_->open(std::move(stream), std::move(socket->leftover));
    for (const auto& frame : firstFrames)
        channel_->sendText(frame);
    schedulePing();
}

void SidebandSession::schedulePing() {
    const auto& options = manager_.options();
    std::weak_ptr<SidebandSession> weak = shared_from_this();
    pingTimer_ = loop_.runAfter(options.pingInterval, [weak] {
        auto self = weak.lock();
        if (!self || !self->channel_ || !self->channel_->isOpen()) return;
        const auto sentAt = self->loop_.now();
        self->channel_->ping();
        self->pingTimer_ = self->loop_.runAfter(self->manager_.options().pingTimeout, [weak, sentAt] {
            auto self = weak.lock();
            if (!self || !self->channel_ || !self->channel_->isOpen()) return;
            if (self->lastHeard_ >= sentAt) return self->schedulePing();
            // Nothing at all since the ping: the network dropped the peer without a FIN.
            self->manager_.metrics().increment(metrics::name::kSessionPingTimeouts);
            logging::forCall(self->call_.callId, self->call_.tenantId)
                .warn("peer unresponsive: nothing heard {} ms after a ping",
                      self->manager_.options().pingTimeout.count());
            {
                std::lock_guard lock(self->closeMutex_);
                if (self->closeReason_.empty()) self->closeReason_ = "peer_unresponsive";
            }
            self->channel_->abort("peer_unresponsive");
        });
    });
}

void SidebandSession::onText(std::string text) {
    bool schedule = false;
    {
        std::lock_guard lock(inboxMutex_);
        inbox_.push_back(std::move(text));
        schedule = !draining_;
        draining_ = true;
    }
    if (schedule) manager_.runOnWorker([self = shared_from_this()] { self->drainInbox(); });
}

void SidebandSession::onChannelClosed(const std::string& reason) {
    if (pingTimer_) loop_.cancel(pingTimer_);
    pingTimer_ = 0;
    // After the messages that came before the close: a function call then a hang-up runs the call first.
    const auto observed = reason;
    auto self = shared_from_this();
    std::lock_guard lock(inboxMutex_);
    closedBy_ = observed;
    if (!draining_) {
        draining_ = true;
        manager_.runOnWorker([self] { self->drainInbox(); });
    }
}

void SidebandSession::drainInbox() {
    for (int handled = 0;; ++handled) {
        std::string text;
        std::string closedBy;
        {
            std::lock_guard lock(inboxMutex_);
            if (!inbox_.empty() && handled == kMessagesPerTurn) {
                manager_.runOnWorker([self = shared_from_this()] { self->drainInbox(); });
                return; // the others' turn; this session keeps its place in the queue
            }
            if (inbox_.empty()) {
                draining_ = false;
                closedBy.swap(closedBy_);
                if (closedBy.empty()) return;
            } else {
                text = std::move(inbox_.front());
                inbox_.pop_front();
            }
        }
        if (!closedBy.empty()) return end(reasonOr(closedBy));
        if (!ended_) turns_.handleEvent(text);
    }
}

void SidebandSession::send(std::string text) {
    if (ended_) return;
    loop_.post([self = shared_from_this(), text = std::move(text)] {
        if (self->channel_ && !self->ended_) self->channel_->sendText(text);
    });
}

void SidebandSession::close(const std::string& reason, EndedBy by) {
    if (ended_) return;
    {
        // Before the close frame goes out: the peer's answering CLOSE may be read first.
        std::lock_guard lock(closeMutex_);
        if (closeReason_.empty()) closeReason_ = reason;
        if (endedBy_ == EndedBy::Unknown) endedBy_ = by;
    }
    loop_.post([self = shared_from_this(), reason] {
        if (self->channel_) self->channel_->close(1000, reason);
    });
    end(reason);
}

void SidebandSession::abort() {
    loop_.post([self = shared_from_this()] {
        if (self->channel_) self->channel_->abort("shutdown");
    });
}

std::string SidebandSession::reasonOr(const std::string& observed) {
    std::lock_guard lock(closeMutex_);
    return closeReason_.empty() ? observed : closeReason_;
}

void SidebandSession::end(const std::string& reason) {
    if (ended_.exchange(true)) return;
    state_ = State::Ended;
    manager_.finished(call_.callId, reason);
    if (call_.observer) call_.observer->onCallEvent(callEvent("call.ended", {{"reason", reason}}));
    EndedBy by;
    {
        std::lock_guard lock(closeMutex_);
        by = endedBy_;
    }
    // A socket the peer closed (with or without a close frame) is OpenAI ending the call; anything
    // else the host saw or decided (no connect, no answer to pings, a broken stream) leaves the
    // call up at OpenAI, with a caller on a line nobody serves, unless it is hung up.
    if (by == EndedBy::Unknown) by = reason == "closed" || reason == "disconnected" ? EndedBy::OpenAI : EndedBy::Host;
    // Through the loop: after the close frame close() posted there, so our side of the socket is
    // closed before OpenAI is told (and does not see the hangup first).
    if (by == EndedBy::Host)
        loop_.post([&manager = manager_, callId = call_.callId, tenantId = call_.tenantId, why = reasonLabel(reason)] {
            manager.hangUpAtOpenAI(callId, tenantId, why);
        });
    const std::chrono::steady_clock::time_point started{std::chrono::steady_clock::duration(startedAt_.load())};
    const auto seconds = started.time_since_epoch().count() == 0
                             ? 0.0
                             : std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // Whoever frees the slot first (this session, the ended webhook, the sweeper) records the end.
    if (const auto tenantId = manager_.ledger().release(call_.callId)) {
        logging::forCall(call_.callId, *tenantId).info("ended ({}) after {:.2f} s", reason, seconds);
        calls::recordCallEnd(manager_.store(), manager_.metrics(), manager_.clock(), call_.callId, *tenantId, reason);
    }
    if (call_.tools) {
        try {
            call_.tools->callEnded(reason);
        } catch (const std::exception& e) {
            logging::forCall(call_.callId, call_.tenantId).warn("plugin callEnded failed: {}", e.what());
        }
    }
}

} // namespace sideband::sessions
