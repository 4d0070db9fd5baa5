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
    int outputIndex = 0; // its place in the response's output (parallel calls: 0, 1, ...)
    SteadyTime sentAt;   // right before its response.function_call_arguments.done went out
    bool outputReceived = false;
    std::string output;
    SteadyTime outputAt; // right after the function_call_output frame was read
    std::chrono::microseconds roundTrip{0};
    // Its response completed, every output of the response came, and then an accepted response.create.
    bool responseCreateFollowed = false;
    bool cancelled = false; // its response ended cancelled (barge-in): the host must not run it
};

// One model response (response.created ... response.done).
struct ResponseRecord {
    enum class Kind {
        FunctionCalls, // one or more function calls (the function_call / function_calls steps)
        Spoken,        // started by the host's accepted response.create: a transcript
        BargeIn,       // a function call, then cancelled because the caller spoke (turn_detected)
    };
    std::string id;
    Kind kind = Kind::FunctionCalls;
    std::string status = "in_progress"; // then completed | cancelled | failed | incomplete
    std::string reason;                 // status_details.reason when not completed (e.g. turn_detected)
    std::vector<std::string> callIds;   // its function calls, in output_index order
    bool awaitOutput = true;            // false: a tool that ends the call; no dead-air check
    SteadyTime createdAt{};
    SteadyTime doneAt{}; // when response.done went out (default-constructed while in progress)
    // Accepted response.create events after all of its outputs (exactly one is right) and, for the
    // first, the time from its first arguments.done to that response.create.
    std::size_t responseCreates = 0;
    std::chrono::microseconds resumedAfter{0};
    SteadyTime firstCallSentAt{};       // its first response.function_call_arguments.done
    bool deadAir = false;               // reported as dead air
    std::string transcript;             // Spoken: what the model said
    std::string callerSays;             // BargeIn: the caller's transcript after the cancel
    std::chrono::milliseconds quiet{0}; // BargeIn: the quiet window after the cancel
    std::string itemId;                 // Spoken: its message item
};

// A response.create the host sent.
struct ResponseCreateRecord {
    SteadyTime at;                           // right after its frame was read
    bool refused = false;                    // a response was active: error conversation_already_has_active_response
    std::string activeResponseId;            // refused: the response that was in progress
    std::string responseId;                  // accepted: the spoken response it started
    std::optional<std::string> instructions; // its response.instructions, if present
    std::string sessionInstructions;         // the session's instructions (session.update) in force then
};

// The turn protocol on one session, counted.
struct TurnStats {
    std::size_t responsesCompleted = 0;
    std::size_t responsesCancelled = 0;
    std::size_t responsesFailed = 0;
    std::size_t responsesIncomplete = 0;
    std::size_t responseCreatesAccepted = 0;
    std::size_t responseCreatesRefused = 0; // conversation_already_has_active_response
    std::size_t deadAir = 0;                // completed function-call responses never followed by a response.create
    std::size_t extraResponseCreates = 0;   // a second (third, ...) response.create after one response
    std::size_t bargeInViolations = 0;      // outputs for cancelled calls, response.create over the caller
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
    // The model's pace (not the network's, but per session like the rest): response.done follows a
    // response's last item this much later (0: at once), so a response stays active for a while and a
    // response.create sent before its response.done is refused, as the real API does.
    std::chrono::milliseconds responseDoneDelay{20};
    // What a spoken response (the answer to an accepted response.create) says in its
    // response.output_audio_transcript.done; empty: no transcript event.
    std::string spokenReply = "Simulated spoken reply.";
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
    // The accepted response.create after a completed function-call response (all outputs in), timed
    // from that response's first response.function_call_arguments.done: the tool round trip as the
    // caller feels it.
    virtual void onResumed(std::chrono::microseconds) {}
    // A completed function-call response was never followed by a response.create (dead air).
    virtual void onDeadAir() {}
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

    // A model response with one function call: response.created, response.function_call_arguments.done,
    // response.output_item.done, then response.done (completed) responseDoneDelay later. A response
    // still in progress is finished first. Returns the call_id (`callId` if given, else a fresh call_...).
    std::string sendFunctionCall(const std::string& name, const std::string& argumentsJson,
                                 const std::string& callId = {});
    // One response with several function calls (output_index 0, 1, ...), then one response.done;
    // returns their call_ids.
    std::vector<std::string> sendFunctionCalls(const std::vector<FunctionCallSpec>& calls);
    // A barge-in: a response with one function call that ends response.done `cancelled`
    // (turn_detected), then `callerSays` as the caller's transcript (if not empty). For `quiet`
    // after the cancel a response.create is a failure; an output for the call is always one.
    std::string sendBargeIn(const std::string& name, const std::string& argumentsJson, const std::string& callId = {},
                            std::chrono::milliseconds quiet = std::chrono::milliseconds(300),
                            const std::string& callerSays = {});
    // The output the host sent for that call_id, or nullopt on timeout / socket closed.
    std::optional<std::string> waitForFunctionOutput(const std::string& functionCallId,
                                                     std::chrono::milliseconds timeout) const;
    std::vector<FunctionCallRecord> functionCalls() const;
    // Every model response so far, oldest first; the one in progress (if any) by id.
    std::vector<ResponseRecord> responses() const;
    std::optional<std::string> activeResponseId() const;
    // Waits until the response `responseId` sent its response.done; its record, or nullopt.
    std::optional<ResponseRecord> waitForResponseDone(const std::string& responseId,
                                                      std::chrono::milliseconds timeout) const;
    // Every response.create the host sent, accepted or refused, in order.
    std::vector<ResponseCreateRecord> responseCreates() const;
    TurnStats turnStats() const;

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
    // Unmet script expectations (timeouts, expect_output_contains) and turn-protocol faults (dead
    // air, a second response.create, barge-in violations), one readable line each.
    std::vector<std::string> failures() const;
    std::vector<TraceEntry> trace() const;

    // --- used by RealtimeSimulator and SessionReactor ---
    // Before start(): the session a created call was given (its create's `session` JSON), merged
    // into the one session.created reports. Not a JSON object: ignored.
    void configure(const std::string& sessionJson);
    void start(); // session.created, then the script
    const Poco::Net::Socket& socket() const { return socket_; }
    void onReadable();                      // reactor thread: read every frame available
    void onTimer(std::uint64_t generation); // timer thread
    void onSplitWriteDue(std::uint64_t);    // split-write thread: the next byte of the outbox
    void onRestRequest(const std::string& action, const std::string& body); // the host's REST call
    void closeFromRest(CloseMode mode, const std::string& reason);          // refer/hangup ended the call
    void detach();                                                          // the simulator is going away

private:
    // Output: the outputs of waitResponse_; ResponseCreate: the response.create after them;
    // ResponseDone: the response in progress must end before the step at pc_ (or after a barge-in).
    enum class Wait { None, Output, ResponseCreate, Timer, Rest, ResponseDone };

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
    // Starts a response with these function calls (finishing one in progress first); its index.
    // `response` gives the kind, awaitOutput and the barge-in fields.
    std::size_t startFunctionCallResponseLocked(const std::vector<FunctionCallSpec>& calls, ResponseRecord response);
    std::size_t startSpokenResponseLocked();
    std::size_t beginResponseLocked(ResponseRecord record); // response.created; becomes the active one
    void scheduleResponseDoneLocked();
    // response.done for the active response: completed (barge-in: cancelled, turn_detected) unless
    // `status` says otherwise.
    void finishActiveResponseLocked(const std::string& status = {}, const std::string& reason = {});
    Poco::JSON::Object::Ptr functionCallItemLocked(const FunctionCallRecord& call) const;
    void handleResponseCreateLocked(const Poco::JSON::Object::Ptr& event, SteadyTime at);
    void handleResponseCancelLocked();
    void handleOutputLocked(const Poco::JSON::Object::Ptr& item, SteadyTime at);
    // The latest function-call response is about to be superseded (or the call ends): dead air?
    void settleToolResponseLocked(bool callEnding);
    bool allOutputsInLocked(const ResponseRecord& response) const;
    std::string missingOutputsLocked(const ResponseRecord& response) const;
    void countResponseStatusLocked(const std::string& status);
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
    std::uint64_t responseTimerGeneration_ = 0; // the active response's response.done
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
    std::vector<ResponseRecord> responses_;
    std::optional<std::size_t> active_;       // the response in progress (response.created sent, no response.done)
    std::optional<std::size_t> toolResponse_; // the latest response with function calls
    std::vector<ResponseCreateRecord> creates_;
    TurnStats turn_;
    std::vector<TraceEntry> trace_;
    std::vector<std::string> failures_;
    std::string fragment_; // a text message split over CONT frames

    // Script driver state.
    std::size_t pc_ = 0;
    Wait wait_ = Wait::None;
    std::string waitCallId_;
    std::size_t waitResponse_ = 0;         // Output / ResponseCreate: the response waited on
    std::vector<std::string> lastCallIds_; // the previous function-call step's calls (expect_output_contains)
    std::string waitAction_;
    std::string waitNeedle_;
    std::string lastCallId_;
    std::map<std::size_t, int> loopCounts_;
    bool scriptDone_ = false;
};

} // namespace sideband::simulator
