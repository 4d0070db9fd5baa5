#pragma once

#include "CallScript.h"

#include <Poco/JSON/Object.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/WebSocket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sideband::simulator {

class SessionReactor;
using SteadyTime = std::chrono::steady_clock::time_point;

// A client event the host sent over the sideband socket, in arrival order.
struct ReceivedEvent {
    std::string type;
    std::string json;
    SteadyTime at; // taken right after the frame was read, before parsing
};

// One function call the simulated model made, and what the host answered.
struct FunctionCallRecord {
    std::string callId;
    std::string name;
    std::string arguments;
    std::string responseId;
    std::string itemId;
    SteadyTime sentAt; // right before the first of the three events went out
    bool outputReceived = false;
    std::string output;
    SteadyTime outputAt; // right after the function_call_output frame was read
    std::chrono::microseconds roundTrip{0};
    bool responseCreateFollowed = false; // the host sent response.create after the output
};

struct TraceEntry {
    SteadyTime at;
    std::string text;
};

struct CloseInfo {
    bool closed = false;
    std::string initiator;           // "simulator", "host" or "rest" (the host's refer/hangup)
    bool closeFrameSent = false;     // by the simulator
    bool closeFrameReceived = false; // from the host
    std::string reason;
};

// How the simulated network carries one session's socket (SimulatorOptions; a call script may turn
// split frames on or off for its call).
struct NetworkBehaviour {
    // Every frame to the host leaves as 1-byte writes `splitFrameDelay` apart (TCP_NODELAY: a
    // segment each; over TLS a record each), so the host's reads see frames arrive in pieces.
    bool splitFrames = false;
    std::chrono::milliseconds splitFrameDelay{1};
    // > 0: the simulator sends the host a PING this often and counts the PONGs.
    std::chrono::milliseconds pingInterval{0};
};

struct NetworkStats {
    bool splitFrames = false;
    std::size_t splitWrites = 0;   // 1-byte writes made so far
    std::size_t pingsSent = 0;     // PINGs the simulator sent
    std::size_t pongsReceived = 0; // PONGs the host sent
    std::size_t pingsReceived = 0; // PINGs the host sent (each answered with a PONG, unless black-holed)
    bool blackHoled = false;
    std::size_t swallowedEvents = 0; // events not sent because the session was black-holed
};

// Called by sessions into the simulator that owns them; never with a session lock held across a
// call back into the session.
class SessionObserver {
public:
    virtual ~SessionObserver() = default;
    virtual void onTrace(const std::string& callId, const std::string& line) = 0;
    virtual void onRoundTrip(std::chrono::microseconds roundTrip) = 0;
    virtual void onOutputTimeout() = 0;
    // True if the host already made REST `action` on this call (and its body contains `needle`).
    virtual bool restSeen(const std::string& callId, const std::string& action, const std::string& needle) = 0;
};

// OpenAI's end of one sideband WebSocket (`/v1/realtime?call_id=...`): sends session.created,
// answers session.update, plays the call's script, records every client event.
//
// Threading: reads happen on a SessionReactor thread, timers on its timer thread, and the public
// methods on any thread; split-frame bytes are written on the reactor's split-write thread. `mutex_`
// guards state; `ioMutex_` serialises socket I/O (one OpenSSL connection must never be read and
// written concurrently) and guards the split-frame outbox. Lock order: mutex_, then ioMutex_.
class SimulatedSession : public std::enable_shared_from_this<SimulatedSession> {
public:
    // `transport` is the TLS or TCP socket under `socket` (split frames are written to it byte by
    // byte). `recordTraffic` false: keep no event texts or trace lines (types, function calls and
    // timings only), for long runs with thousands of calls.
    SimulatedSession(std::string callId, Poco::Net::WebSocket socket, Poco::Net::StreamSocket transport,
                     std::shared_ptr<const CallScript> script, SessionReactor& reactor, SessionObserver* observer,
                     bool recordTraffic = true, NetworkBehaviour network = {});
    ~SimulatedSession();
    SimulatedSession(const SimulatedSession&) = delete;
    SimulatedSession& operator=(const SimulatedSession&) = delete;

    const std::string& callId() const { return callId_; }
    bool isConnected() const;

    std::vector<ReceivedEvent> receivedEvents() const;
    // Waits until `occurrence` events of `type` arrived (counting from the connect); returns that one.
    std::optional<ReceivedEvent> waitForEvent(const std::string& type, std::chrono::milliseconds timeout,
                                              std::size_t occurrence = 1) const;
    // Every server event sent so far (JSON text), in order.
    std::vector<std::string> sentEvents() const;

    // Emits response.function_call_arguments.done, response.output_item.done and response.done for
    // one call; returns its call_id (`callId` if given, else a fresh call_...).
    std::string sendFunctionCall(const std::string& name, const std::string& argumentsJson,
                                 const std::string& callId = {});
    // The output the host sent for that call_id, or nullopt on timeout / socket closed.
    std::optional<std::string> waitForFunctionOutput(const std::string& functionCallId,
                                                     std::chrono::milliseconds timeout) const;
    std::vector<FunctionCallRecord> functionCalls() const;

    // speaker "caller": conversation.item.input_audio_transcription.completed; "agent":
    // response.output_audio_transcript.done.
    void sendTranscript(const std::string& speaker, const std::string& text);
    void sendError(const std::string& code, const std::string& message,
                   const std::string& type = "invalid_request_error");
    void sendRaw(const std::string& json);

    // The caller hangs up. CloseFrame waits (up to 2 s) for the host's CLOSE before closing TCP.
    void hangup(CloseMode mode);
    void hangup(bool closeFrame) { hangup(closeFrame ? CloseMode::CloseFrame : CloseMode::Abrupt); }
    bool waitForClose(std::chrono::milliseconds timeout) const;
    CloseInfo closeInfo() const;

    // The network to the host goes dead: the simulator stops reading and writing this socket but
    // keeps it open (no FIN, no close frame, no PONG), until the host closes it (then the session
    // ends with initiator "host") or the simulator stops. Ends the script; later sends and hang-ups
    // are dropped (and traced).
    void blackHole();
    bool isBlackHoled() const { return blackHoled_; }
    NetworkStats networkStats() const;

    // The script ran to its end (or the socket closed first).
    bool waitForScript(std::chrono::milliseconds timeout) const;
    bool scriptFinished() const;
    // Unmet script expectations (timeouts, expect_output_contains), one readable line each.
    std::vector<std::string> failures() const;
    std::vector<TraceEntry> trace() const;

    // --- used by RealtimeSimulator and SessionReactor ---
    void start(); // session.created, then the script
    const Poco::Net::Socket& socket() const { return socket_; }
    void onReadable();                      // reactor thread: read every frame available
    void onTimer(std::uint64_t generation); // timer thread
    void onSplitWriteDue(std::uint64_t);    // split-write thread: the next byte of the outbox
    void onRestRequest(const std::string& action, const std::string& body); // the host's REST call
    void closeFromRest(CloseMode mode, const std::string& reason);          // refer/hangup ended the call
    void detach();                                                          // the simulator is going away

private:
    enum class Wait { None, Output, ResponseCreate, Timer, Rest };

    void handleEvent(const std::string& text, SteadyTime at);
    void sendEventLocked(Poco::JSON::Object::Ptr event);
    void sendTranscriptLocked(const std::string& speaker, const std::string& text);
    void sendErrorLocked(const std::string& code, const std::string& message, const std::string& type);
    void sendRawLocked(const std::string& text);
    // When it went out; nullopt when the black hole swallowed it.
    std::optional<SteadyTime> sendTextLocked(const std::string& text);
    void writeFrameLocked(int opcode, const std::string& payload);
    std::chrono::milliseconds splitFrameBacklogLocked();
    void flushSplitFramesLocked();
    void pingLocked();
    void schedulePingLocked();
    void blackHoleLocked(const std::string& why);
    bool hostClosedBlackHoleLocked();
    std::string sendFunctionCallLocked(const std::string& name, const std::string& argumentsJson,
                                       const std::string& callId);
    void hangupLocked(CloseMode mode, const std::string& initiator, const std::string& reason);
    void finishLocked(const std::string& initiator, const std::string& reason);
    void advanceLocked();
    void scheduleLocked(SteadyTime at);
    void traceLocked(const std::string& text);
    void failLocked(const std::string& message);
    std::string nextId(const char* prefix);

    const std::string callId_;
    Poco::Net::WebSocket socket_;
    Poco::Net::StreamSocket transport_;
    const std::shared_ptr<const CallScript> script_;
    SessionReactor& reactor_;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    mutable std::mutex ioMutex_;
    // Held across reading a frame and handling it: the upgrade's thread and the reactor may both
    // call onReadable, and two frames read by two threads could otherwise be handled out of order
    // (a response.create before the output it follows).
    std::mutex readMutex_;
    SessionObserver* observer_;
    const bool record_;
    const NetworkBehaviour network_;
    bool connected_ = true;
    bool closing_ = false;
    CloseInfo close_;
    std::uint64_t idCounter_ = 0;
    std::uint64_t timersScheduled_ = 0; // both timers take their generation from this count
    std::uint64_t timerGeneration_ = 0; // the script's (and the close handshake's) timer
    std::uint64_t pingTimerGeneration_ = 0;
    // Set under mutex_; read without it where a stale read is harmless (the reader re-checks).
    std::atomic<bool> blackHoled_{false};
    NetworkStats stats_; // splitWrites lives in splitWrites_ (ioMutex_)

    // Split-frame outbox (ioMutex_): encoded frames not yet written, oldest first.
    std::string splitOutbox_;
    std::size_t splitOffset_ = 0;      // bytes of splitOutbox_ already written
    bool splitWriteScheduled_ = false; // a split-write callback is pending
    SteadyTime nextSplitWriteAt_{};    // the pacing: no byte before this
    std::size_t splitWrites_ = 0;
    Poco::JSON::Object::Ptr session_;
    std::vector<ReceivedEvent> received_;
    std::vector<std::string> sent_;
    std::vector<FunctionCallRecord> calls_;
    std::map<std::string, std::size_t> callIndex_;
    std::vector<TraceEntry> trace_;
    std::vector<std::string> failures_;
    std::string fragment_; // a text message split over CONT frames

    // Script driver state.
    std::size_t pc_ = 0;
    Wait wait_ = Wait::None;
    std::string waitCallId_;
    std::string waitAction_;
    std::string waitNeedle_;
    std::string lastCallId_;
    std::map<std::size_t, int> loopCounts_;
    bool scriptDone_ = false;
};

} // namespace sideband::simulator
