#pragma once

#include "calls/SessionLauncher.h"
#include "io/EventLoop.h"
#include "sessions/RealtimeTurns.h"

#include <Poco/JSON/Object.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace sideband::websocket {
class WebSocketChannel;
struct UpgradedSocket;
} // namespace sideband::websocket

namespace sideband::sessions {

class SessionManager;

// One call's sideband WebSocket: configures the session, greets, serves function calls (each
// exactly once, though the server reports it in several events), records transcripts, pings the
// peer, and ends when the socket closes, with or without a close frame, or the peer stops
// answering.
//
// Threads: the connect runs on a connector; afterwards the socket belongs to one event loop, which
// alone reads, writes and closes it. Whole messages go to the session workers, one at a time per
// session and in order; tool outputs and closes are posted back to the loop. No thread ever waits
// on the socket.
class SidebandSession : public std::enable_shared_from_this<SidebandSession> {
public:
    enum class State { Connecting, Open, Ended };

    SidebandSession(SessionManager& manager, calls::AcceptedCall call, io::EventLoop& loop);
    ~SidebandSession();

    const std::string& callId() const { return call_.callId; }
    State state() const { return state_.load(); }

    // On a connector: opens the socket (retrying transient failures), then hands it to the loop and
    // sends session.update and the greeting. False (and the call ended) on failure.
    bool connect();
    // Who ended the call: OpenAI (an ended webhook, the socket closed by the peer) or the host
    // itself (maximum duration, shutdown, a dead or broken socket), which then tells OpenAI.
    enum class EndedBy { Unknown, OpenAI, Host };

    // Any thread: ends the call from outside (ended webhook, sweeper, shutdown) with a close frame.
    // EndedBy::Host also sends REST hangup once, as every call the host ends on its own does.
    void close(const std::string& reason, EndedBy by = EndedBy::OpenAI);
    // Any thread: drops the socket at once (stop after the drain).
    void abort();

private:
    websocket::UpgradedSocket open(); // one connect attempt; throws
    void attach(std::shared_ptr<websocket::UpgradedSocket> socket, std::vector<std::string> firstFrames);
    void onText(std::string text);                   // loop
    void onChannelClosed(const std::string& reason); // loop
    void drainInbox();                               // worker
    void schedulePing();                             // loop
    void send(std::string text);                     // any thread: posted to the loop
    void end(const std::string& reason);
    // The reason the host gave when it closed the call itself, else what the socket showed.
    std::string reasonOr(const std::string& observed);

    SessionManager& manager_;
    calls::AcceptedCall call_;
    io::EventLoop& loop_;
    std::atomic<State> state_{State::Connecting};

    // Loop thread only.
    std::shared_ptr<websocket::WebSocketChannel> channel_;
    io::SteadyClock::time_point lastHeard_{};
    io::EventLoop::TimerId pingTimer_ = 0;

    // Messages waiting for a worker, in order; `draining_`: a worker has been asked to take them.
    std::mutex inboxMutex_;
    std::deque<std::string> inbox_;
    bool draining_ = false;
    std::string closedBy_; // the socket ended (reason): handled after the messages before it

    std::atomic<bool> ended_{false};
    std::mutex closeMutex_;
    std::string closeReason_;                                  // set by close() before the close frame is sent
    EndedBy endedBy_ = EndedBy::Unknown;                       // closeMutex_
    std::atomic<std::chrono::steady_clock::rep> startedAt_{0}; // set by the connect, read by end() on any thread

    // The conversation: the events the workers hand over, the function calls and response.creates.
    RealtimeTurns turns_;
};

} // namespace sideband::sessions
