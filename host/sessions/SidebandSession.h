#pragma once

#include "calls/SessionLauncher.h"

#include <Poco/JSON/Object.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/WebSocket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace sideband::sessions {

class SessionManager;

// One call's sideband WebSocket: configures the session, greets, serves function calls (each
// exactly once, though the server reports it in several events), records transcripts, and ends
// when the socket closes, with or without a close frame. All methods run on the manager's
// workers; sends are serialised so tool completions (on the tool pool) can answer at any time.
class SidebandSession : public std::enable_shared_from_this<SidebandSession> {
public:
    SidebandSession(SessionManager& manager, calls::AcceptedCall call);
    ~SidebandSession();

    const std::string& callId() const { return call_.callId; }
    int socketFd() const;
    const Poco::Net::Socket& socket() const { return *socket_; }

    // Opens the socket and sends session.update and the greeting. False (and the call ended) on failure.
    bool connect();
    // The socket is readable: read and handle frames until none is buffered. False when the session ended.
    bool onReadable();
    // Ends the call from outside (ended webhook, sweeper, shutdown): closes the socket.
    void close(const std::string& reason);

private:
    void open(); // one connect attempt; throws
    void handleEvent(const std::string& text);
    void runFunctionCall(const std::string& functionCallId, const std::string& name, const std::string& arguments);
    void sendFunctionOutput(const std::string& functionCallId, const std::string& output);
    void recordTranscript(const std::string& speaker, const std::string& text);
    void send(const Poco::JSON::Object::Ptr& event);
    void end(const std::string& reason);
    // The reason the host gave when it closed the call itself, else what the socket showed.
    std::string reasonOr(const std::string& observed);

    SessionManager& manager_;
    calls::AcceptedCall call_;
    std::unique_ptr<Poco::Net::HTTPClientSession> http_;
    std::unique_ptr<Poco::Net::WebSocket> socket_; // set once, by the connect; read elsewhere only after socketOpen_
    std::atomic<bool> socketOpen_{false};
    std::mutex sendMutex_;
    std::mutex functionCallsMutex_;
    std::set<std::string> functionCalls_; // call_ids already run
    std::string fragments_;               // a text message split over continuation frames
    std::atomic<bool> ended_{false};
    std::mutex closeMutex_;
    std::string closeReason_;                                  // set by close() before the close frame is sent
    std::atomic<std::chrono::steady_clock::rep> startedAt_{0}; // set by the connect, read by end() on any thread
};

} // namespace sideband::sessions
