#include "sessions/SidebandSession.h"

#include "calls/CallEnd.h"
#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "openai/RealtimeEvents.h"
#include "sessions/SessionManager.h"

#include <Poco/Buffer.h>
#include <Poco/JSON/Array.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>

#include <spdlog/spdlog.h>

#include <thread>

namespace sideband::sessions {
namespace {

constexpr int kMaxEventBytes = 4 * 1024 * 1024;

std::string field(const Poco::JSON::Object::Ptr& object, const std::string& key) {
    if (!object || !object->has(key)) return {};
    const auto value = object->get(key);
    return value.isString() ? value.extract<std::string>() : std::string();
}

} // namespace

SidebandSession::SidebandSession(SessionManager& manager, calls::AcceptedCall call)
    : manager_(manager), call_(std::move(call)) {}

SidebandSession::~SidebandSession() = default;

int SidebandSession::socketFd() const {
    return socketOpen_ ? static_cast<int>(socket_->impl()->sockfd()) : -1;
}

void SidebandSession::open() {
    const auto& uri = manager_.socketUri();
    if (uri.getScheme() == "wss")
        http_ = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), manager_.tlsContext(),
                                                                manager_.resumableTlsSession());
    else
        http_ = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    const Poco::Timespan connectTimeout(manager_.options().connectTimeout.count() * 1000);
    http_->setTimeout(connectTimeout, connectTimeout, connectTimeout);
    std::string callId;
    Poco::URI::encode(call_.callId, "/?#%&+= ", callId);
    // No model parameter and no OpenAI-Beta header: the call's session already exists.
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, uri.getPath() + "?call_id=" + callId,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", "Bearer " + manager_.options().apiKey);
    Poco::Net::HTTPResponse response;
    auto socket = std::make_unique<Poco::Net::WebSocket>(*http_, request, response);
    const Poco::Timespan frameTimeout(manager_.options().frameTimeout.count() * 1000);
    socket->setReceiveTimeout(frameTimeout);
    socket->setSendTimeout(frameTimeout);
    socket->setMaxPayloadSize(kMaxEventBytes);
    socket_ = std::move(socket);
    socketOpen_ = true; // publishes socket_ to close() and end() on other threads
}

bool SidebandSession::connect() {
    // Ended while the connect waited its turn (the caller hung up, the host is stopping): the call
    // is over, its slot released and its plugin told; opening its socket now would only start it again.
    if (ended_) return false;
    const auto& uri = manager_.socketUri();
    auto backoff = std::chrono::milliseconds(200);
    for (int attempt = 1;; ++attempt) {
        try {
            open();
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
            manager_.metrics().increment(metrics::name::kSessions, {{"outcome", "connect_failed"}});
            end("session_connect_failed");
            return false;
        }
    }

    if (ended_) { // ended during the handshake: it is over already, leave politely
        try {
            std::lock_guard lock(sendMutex_);
            socket_->shutdown(Poco::Net::WebSocket::WS_NORMAL_CLOSE, reasonOr("ended"));
        } catch (const Poco::Exception&) {
        }
        return false;
    }
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
    try {
        send(openai::realtime::sessionUpdate(call_));
        if (!call_.instructions.greeting.empty()) send(openai::realtime::greeting(call_.instructions.greeting));
    } catch (const Poco::Exception& e) {
        // The peer went away between the upgrade and our first frames: the caller hung up.
        logging::forCall(call_.callId, call_.tenantId).info("sideband socket closed during setup: {}", e.displayText());
        end(reasonOr("disconnected"));
        return false;
    }
    return true;
}

bool SidebandSession::onReadable() {
    if (ended_) return false;
    try {
        do {
            Poco::Buffer<char> buffer(0);
            int flags = 0;
            const int n = socket_->receiveFrame(buffer, flags);
            const int opcode = flags & Poco::Net::WebSocket::FRAME_OP_BITMASK;
            if (n == 0 && flags == 0) {
                // OpenAI drops the socket without a close frame when the caller hangs up: a normal end.
                end(reasonOr("disconnected"));
                return false;
            }
            if (opcode == Poco::Net::WebSocket::FRAME_OP_CLOSE) {
                try {
                    std::lock_guard lock(sendMutex_);
                    socket_->shutdown(); // answer the close handshake
                } catch (const Poco::Exception&) {
                }
                end(reasonOr("closed"));
                return false;
            }
            if (opcode == Poco::Net::WebSocket::FRAME_OP_PING) {
                std::lock_guard lock(sendMutex_);
                socket_->sendFrame(buffer.begin(), n,
                                   Poco::Net::WebSocket::FRAME_FLAG_FIN | Poco::Net::WebSocket::FRAME_OP_PONG);
                continue;
            }
            if (opcode != Poco::Net::WebSocket::FRAME_OP_TEXT && opcode != Poco::Net::WebSocket::FRAME_OP_CONT)
                continue;
            fragments_.append(buffer.begin(), static_cast<std::size_t>(n));
            if (fragments_.size() > static_cast<std::size_t>(kMaxEventBytes)) {
                logging::forCall(call_.callId, call_.tenantId).error("event larger than {} bytes", kMaxEventBytes);
                close("protocol_error");
                return false;
            }
            if (flags & Poco::Net::WebSocket::FRAME_FLAG_FIN) {
                std::string event;
                event.swap(fragments_);
                handleEvent(event);
            }
        } while (!ended_ && socket_->available() > 0);
    } catch (const Poco::Exception& e) {
        if (!ended_) logging::forCall(call_.callId, call_.tenantId).info("sideband socket ended: {}", e.displayText());
        end(reasonOr("disconnected"));
        return false;
    }
    return !ended_;
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
    try {
        send(openai::realtime::functionCallOutput(functionCallId, output));
        send(openai::realtime::responseCreate());
    } catch (const Poco::Exception& e) {
        logging::forCall(call_.callId, call_.tenantId).warn("cannot send tool output: {}", e.displayText());
    }
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
    const auto text = json::stringify(event);
    std::lock_guard lock(sendMutex_);
    if (ended_) return;
    socket_->sendFrame(text.data(), static_cast<int>(text.size()), Poco::Net::WebSocket::FRAME_TEXT);
}

void SidebandSession::close(const std::string& reason) {
    if (ended_) return;
    {
        // Before the close frame goes out: the peer's answering CLOSE may be read first.
        std::lock_guard lock(closeMutex_);
        if (closeReason_.empty()) closeReason_ = reason;
    }
    if (socketOpen_) {
        try {
            std::lock_guard lock(sendMutex_);
            socket_->shutdown(Poco::Net::WebSocket::WS_NORMAL_CLOSE, reason);
        } catch (const Poco::Exception&) {
        }
    }
    end(reason);
}

std::string SidebandSession::reasonOr(const std::string& observed) {
    std::lock_guard lock(closeMutex_);
    return closeReason_.empty() ? observed : closeReason_;
}

void SidebandSession::end(const std::string& reason) {
    if (ended_.exchange(true)) return;
    manager_.finished(call_.callId, reason);
    if (socketOpen_) {
        try {
            // Wakes a worker that may be blocked reading this socket; the fd closes with the object.
            static_cast<Poco::Net::StreamSocket&>(*socket_).shutdown();
        } catch (const Poco::Exception&) {
        }
    }
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
