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
#include <Poco/Net/SSLException.h>

#include <spdlog/spdlog.h>

#include <cctype>
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

// Metric label values from the API's text: known shapes only, and a bounded number of them.
std::string statusLabel(const std::string& status) {
    return status == "completed" || status == "cancelled" || status == "failed" || status == "incomplete" ? status
                                                                                                          : "other";
}

std::string errorCodeLabel(const std::string& code) {
    if (code.empty()) return "none";
    if (code.size() > 64) return "other";
    for (char c : code)
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
            return "other";
    static std::mutex mutex;
    static std::set<std::string> seen;
    std::lock_guard lock(mutex);
    if (seen.count(code) || seen.size() < 32) {
        seen.insert(code);
        return code;
    }
    return "other";
}

// The part of an end reason before any detail ("read_error: ..." -> "read_error"): a label value.
std::string reasonLabel(const std::string& reason) {
    return reason.substr(0, reason.find(':'));
}

const std::string& plainResponseCreate() {
    static const std::string text = json::stringify(openai::realtime::responseCreate());
    return text;
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
        manager_.metrics().increment(metrics::name::kSessions, {{"outcome", "connect_failed"}});
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
    if (!call_.instructions.greeting.empty()) {
        firstFrames.push_back(json::stringify(openai::realtime::greeting(call_.instructions)));
        std::lock_guard lock(turnMutex_);
        lastCreate_ = firstFrames.back(); // refused (a response already running): sent again after it
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

    // The same function call arrives in up to three events; it is noted under its response and
    // run (once, by call_id) when that response is done and completed.
    if (type == "response.created") {
        const auto response = event->getObject("response");
        std::lock_guard lock(turnMutex_);
        activeResponse_ = field(response, "id");
    } else if (type == "response.function_call_arguments.done") {
        noteFunctionCall(field(event, "response_id"),
                         {field(event, "call_id"), field(event, "name"), field(event, "arguments")});
    } else if (type == "response.output_item.done") {
        const auto item = event->getObject("item");
        if (field(item, "type") == "function_call")
            noteFunctionCall(field(event, "response_id"),
                             {field(item, "call_id"), field(item, "name"), field(item, "arguments")});
    } else if (type == "response.done") {
        onResponseDone(event->getObject("response"));
    } else if (type == "conversation.item.input_audio_transcription.completed") {
        recordTranscript("caller", field(event, "transcript"));
    } else if (type == "response.output_audio_transcript.done") {
        recordTranscript("agent", field(event, "transcript"));
    } else if (type == "error") {
        const auto error = event->getObject("error");
        const auto code = field(error, "code");
        manager_.metrics().increment(metrics::name::kRealtimeErrors, {{"code", errorCodeLabel(code)}});
        if (code == "conversation_already_has_active_response") {
            onActiveResponseConflict();
        } else {
            logging::forCall(call_.callId, call_.tenantId)
                .warn("realtime error {}: {:.200}", code, field(error, "message"));
        }
    } else if (type == "session.created" || type == "session.updated") {
        logging::forCall(call_.callId, call_.tenantId).debug("{}", type);
    }
    // Every other event type is ignored quietly, as the protocol expects.
}

void SidebandSession::noteFunctionCall(const std::string& responseId, FunctionCall call) {
    if (call.callId.empty()) return;
    std::lock_guard lock(turnMutex_);
    if (functionCalls_.count(call.callId)) return; // already run or skipped
    auto& calls = responseCalls_[responseId];
    for (const auto& known : calls)
        if (known.callId == call.callId) return;
    calls.push_back(std::move(call));
}

void SidebandSession::onResponseDone(const Poco::JSON::Object::Ptr& response) {
    const auto responseId = field(response, "id");
    const auto status = field(response, "status");
    const auto output = response ? response->getArray("output") : nullptr;
    for (std::size_t i = 0; output && i < output->size(); ++i) {
        const auto item = output->getObject(static_cast<unsigned>(i));
        if (field(item, "type") == "function_call")
            noteFunctionCall(responseId, {field(item, "call_id"), field(item, "name"), field(item, "arguments")});
    }
    manager_.metrics().increment(metrics::name::kRealtimeResponses, {{"status", statusLabel(status)}});

    std::vector<FunctionCall> toRun;
    std::vector<FunctionCall> skipped;
    std::string createNow;
    {
        std::lock_guard lock(turnMutex_);
        if (activeResponse_ == responseId || responseId.empty()) activeResponse_.clear();
        std::vector<FunctionCall> calls;
        if (auto it = responseCalls_.find(responseId); it != responseCalls_.end()) {
            calls = std::move(it->second);
            responseCalls_.erase(it);
        }
        for (auto& call : calls) {
            if (!functionCalls_.insert(call.callId).second) continue;
            (status == "completed" ? toRun : skipped).push_back(std::move(call));
        }
        if (!toRun.empty()) {
            outputsAwaited_ += toRun.size();
            createWanted_.clear(); // the response.create after these outputs serves a waiting one too
        } else if (status == "cancelled" || status == "incomplete") {
            // The caller spoke over the model: the next response follows the caller's turn, and a
            // response.create now would talk over them.
            createWanted_.clear();
        } else if (!createWanted_.empty() && outputsAwaited_ == 0 && activeResponse_.empty()) {
            createNow = std::move(createWanted_);
            createWanted_.clear();
        }
    }
    for (const auto& call : skipped) {
        manager_.metrics().increment(metrics::name::kFunctionCallsSkipped, {{"reason", statusLabel(status)}});
        logging::forCall(call_.callId, call_.tenantId)
            .info("tool {} ({}) not run: its response {} ended {}", call.name, call.callId, responseId, status);
    }
    for (const auto& call : toRun)
        runFunctionCall(call);
    if (!createNow.empty()) sendResponseCreate(std::move(createNow));
}

void SidebandSession::onActiveResponseConflict() {
    // Our response.create came while a response was running and was dropped: send it again when
    // that response is done, or the caller hears nothing.
    manager_.metrics().increment(metrics::name::kResponseCreateRetries);
    std::lock_guard lock(turnMutex_);
    createWanted_ = lastCreate_.empty() ? plainResponseCreate() : lastCreate_;
    logging::forCall(call_.callId, call_.tenantId)
        .info("response.create refused while response {} runs; sent again after it",
              activeResponse_.empty() ? "(unknown)" : activeResponse_);
}

void SidebandSession::runFunctionCall(const FunctionCall& call) {
    logging::forCall(call_.callId, call_.tenantId).info("tool {} ({})", call.name, call.callId);
    if (!call_.tools) {
        onFunctionOutput(call.callId, R"({"error":"no tools are available on this call"})");
        return;
    }
    auto self = shared_from_this();
    call_.tools->invoke({call.name, call.arguments, call.callId},
                        [self, functionCallId = call.callId](const std::string& output) {
                            self->onFunctionOutput(functionCallId, output);
                        });
}

void SidebandSession::onFunctionOutput(const std::string& functionCallId, const std::string& output) {
    if (ended_) {
        logging::forCall(call_.callId, call_.tenantId)
            .info("tool output for {} dropped: the call has ended", functionCallId);
        return;
    }
    // Posted to the loop before this output is counted as sent: a response.create decided from then
    // on (here, or by a worker at a response.done) is posted after it and so goes out after it.
    send(openai::realtime::functionCallOutput(functionCallId, output));
    manager_.metrics().increment(metrics::name::kFunctionOutputs);
    std::string createNow;
    {
        std::lock_guard lock(turnMutex_);
        if (outputsAwaited_ > 0) --outputsAwaited_;
        if (outputsAwaited_ == 0) {
            if (call_.actions && call_.actions->endedCall()) {
                createWanted_.clear(); // transferred or hung up: nothing more to say
            } else if (!activeResponse_.empty()) {
                createWanted_ = plainResponseCreate(); // after the running response's response.done
            } else {
                createNow = plainResponseCreate();
            }
        }
    }
    if (!createNow.empty()) sendResponseCreate(std::move(createNow));
}

void SidebandSession::sendResponseCreate(std::string text) {
    if (ended_) return;
    {
        std::lock_guard lock(turnMutex_);
        lastCreate_ = text;
    }
    loop_.post([self = shared_from_this(), text = std::move(text)] {
        if (self->channel_ && !self->ended_) self->channel_->sendText(text);
    });
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
