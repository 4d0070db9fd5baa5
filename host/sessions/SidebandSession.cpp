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

#include <Poco/JSON/Array.h>
#include <Poco/Net/NetException.h>

#include <spdlog/spdlog.h>

#include <thread>

namespace sideband::sessions {
namespace {

// A worker hands the session back after this many messages, so one chatty call cannot hold it.
constexpr int kMessagesPerTurn = 32;

std::string field(const Poco::JSON::Object::Ptr& object, const std::string& key) {
    if (!object || !object->has(key)) return {};
    const auto value = object->get(key);
    return value.isString() ? value.extract<std::string>() : std::string();
}

} // namespace

SidebandSession::SidebandSession(SessionManager& manager, calls::AcceptedCall call, io::EventLoop& loop)
    : manager_(manager), call_(std::move(call)), loop_(loop) {}

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
    auto backoff = std::chrono::milliseconds(200);
    std::shared_ptr<websocket::UpgradedSocket> socket;
    for (int attempt = 1;; ++attempt) {
        try {
            socket = std::make_shared<websocket::UpgradedSocket>(open());
            break;
        } catch (const Poco::Exception& e) {
            // The call is accepted and the caller is listening: a timeout or a refused connection
            // is worth another try. A bad certificate or an HTTP refusal of the upgrade is not.
            const bool transient = dynamic_cast<const Poco::TimeoutException*>(&e) ||
                                   dynamic_cast<const Poco::Net::ConnectionRefusedException*>(&e) ||
                                   dynamic_cast<const Poco::Net::ConnectionResetException*>(&e);
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
            logging::forCall(call_.callId, call_.tenantId)
                .error("sideband connect to {}://{}:{} failed: {}", uri.getScheme(), uri.getHost(), uri.getPort(),
                       e.what());
        }
        manager_.metrics().increment(metrics::name::kSessions, {{"outcome", "connect_failed"}});
        end("session_connect_failed");
        return false;
    }

    if (ended_) return false; // ended during the handshake: it is over already; the socket just closes
    startedAt_ = std::chrono::steady_clock::now().time_since_epoch().count();
    manager_.ledger().promote(call_.callId);
    manager_.metrics().increment(metrics::name::kSessions, {{"outcome", "started"}});
    logging::forCall(call_.callId, call_.tenantId).info("sideband session open");
    if (call_.tools) {
        try {
            call_.tools->callStarted();
        } catch (const std::exception& e) {
            logging::forCall(call_.callId, call_.tenantId).warn("plugin callStarted failed: {}", e.what());
        }
    }
    std::vector<std::string> firstFrames{json::stringify(openai::realtime::sessionUpdate(call_))};
    if (!call_.instructions.greeting.empty())
        firstFrames.push_back(json::stringify(openai::realtime::greeting(call_.instructions.greeting)));
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
        if (!ended_) handleEvent(text);
    }
}

void SidebandSession::handleEvent(const std::string& text) {
    const auto parsed = json::parse(text);
    if (parsed.isEmpty() || parsed.type() != typeid(Poco::JSON::Object::Ptr)) {
        logging::forCall(call_.callId, call_.tenantId).warn("ignoring a frame that is not a JSON object");
        return;
    }
    const auto event = parsed.extract<Poco::JSON::Object::Ptr>();
    const auto type = field(event, "type");

    // The same function call arrives in up to three events; runFunctionCall keeps it to one run.
    if (type == "response.function_call_arguments.done") {
        runFunctionCall(field(event, "call_id"), field(event, "name"), field(event, "arguments"));
    } else if (type == "response.output_item.done") {
        const auto item = event->getObject("item");
        if (field(item, "type") == "function_call")
            runFunctionCall(field(item, "call_id"), field(item, "name"), field(item, "arguments"));
    } else if (type == "response.done") {
        const auto response = event->getObject("response");
        const auto output = response ? response->getArray("output") : nullptr;
        for (std::size_t i = 0; output && i < output->size(); ++i) {
            const auto item = output->getObject(static_cast<unsigned>(i));
            if (field(item, "type") == "function_call")
                runFunctionCall(field(item, "call_id"), field(item, "name"), field(item, "arguments"));
        }
    } else if (type == "conversation.item.input_audio_transcription.completed") {
        recordTranscript("caller", field(event, "transcript"));
    } else if (type == "response.output_audio_transcript.done") {
        recordTranscript("agent", field(event, "transcript"));
    } else if (type == "error") {
        const auto error = event->getObject("error");
        const auto code = field(error, "code");
        if (code == "conversation_already_has_active_response")
            logging::forCall(call_.callId, call_.tenantId).debug("{}", code);
        else
            logging::forCall(call_.callId, call_.tenantId)
                .warn("realtime error {}: {:.200}", code, field(error, "message"));
    } else if (type == "session.created" || type == "session.updated") {
        logging::forCall(call_.callId, call_.tenantId).debug("{}", type);
    }
    // Every other event type is ignored quietly, as the protocol expects.
}

void SidebandSession::runFunctionCall(const std::string& functionCallId, const std::string& name,
                                      const std::string& arguments) {
    if (functionCallId.empty()) return;
    {
        std::lock_guard lock(functionCallsMutex_);
        if (!functionCalls_.insert(functionCallId).second) return;
    }
    logging::forCall(call_.callId, call_.tenantId).info("tool {} ({})", name, functionCallId);
    if (!call_.tools) {
        sendFunctionOutput(functionCallId, R"({"error":"no tools are available on this call"})");
        return;
    }
    auto self = shared_from_this();
    call_.tools->invoke(name, arguments, [self, functionCallId](const std::string& output) {
        self->sendFunctionOutput(functionCallId, output);
    });
}

void SidebandSession::sendFunctionOutput(const std::string& functionCallId, const std::string& output) {
    if (ended_) {
        logging::forCall(call_.callId, call_.tenantId)
            .info("tool output for {} dropped: the call has ended", functionCallId);
        return;
    }
    send(openai::realtime::functionCallOutput(functionCallId, output));
    send(openai::realtime::responseCreate());
}

void SidebandSession::recordTranscript(const std::string& speaker, const std::string& text) {
    if (text.empty()) return;
    const tenants::TranscriptLine line{speaker, text};
    logging::forCall(call_.callId, call_.tenantId).debug("{}: {}", speaker, text);
    try {
        manager_.store().appendTranscript(call_.callId, line);
    } catch (const tenants::StoreError& e) {
        manager_.metrics().increment(metrics::name::kStoreErrors,
                                     {{"tenant", call_.tenantId}, {"operation", "transcript"}});
        logging::forCall(call_.callId, call_.tenantId).warn("transcript not stored: {}", e.what());
    }
    if (call_.tools) {
        try {
            call_.tools->transcript(line);
        } catch (const std::exception& e) {
            logging::forCall(call_.callId, call_.tenantId).warn("plugin transcript hook failed: {}", e.what());
        }
    }
}

void SidebandSession::send(const Poco::JSON::Object::Ptr& event) {
    if (ended_) return;
    loop_.post([self = shared_from_this(), text = json::stringify(event)] {
        if (self->channel_ && !self->ended_) self->channel_->sendText(text);
    });
}

void SidebandSession::close(const std::string& reason) {
    if (ended_) return;
    {
        // Before the close frame goes out: the peer's answering CLOSE may be read first.
        std::lock_guard lock(closeMutex_);
        if (closeReason_.empty()) closeReason_ = reason;
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
