#pragma once

#include "CallScript.h"
#include "SimulatedSession.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
class HTTPServerRequest;
class HTTPServerResponse;
} // namespace Net
} // namespace Poco

namespace sideband::simulator {

class SessionReactor;

struct SimulatorOptions {
    std::string listen = "127.0.0.1:0"; // port 0: any free port, see port()
    std::string tlsCert;                // both set: HTTPS (e.g. tools/make-test-certs.sh); else plain HTTP
    std::string tlsKey;
    std::string expectedApiKey; // set: REST and WebSocket need "Authorization: Bearer <key>", else 401
    bool strict = false;        // unknown call ids -> 404 call_id_not_found (default: any id is fine)
    int httpThreads = 16;       // REST and upgrade handshakes; established sockets go to the reactor
    int reactorLoops = 2;       // poll loops serving established sideband sockets
    CloseMode restHangupClose = CloseMode::CloseFrame; // how the socket ends after the host's REST hangup
    std::chrono::milliseconds referCloseDelay{200};    // REFER: the call leaves a moment later
    bool logTraffic = false;                           // every trace line to spdlog at info (the CLI's serve does this)
    bool restKeepAlive = true; // false: every REST answer says "Connection: close" (a new connection per request)
    // false: sessions keep no event texts or trace lines, only event types, function calls and round
    // trips - for benchmarks holding thousands of calls for minutes (each call otherwise costs ~3 KiB
    // per tool round trip).
    bool recordTraffic = true;
    // A hostile network (docs/simulator.md): every frame to the host leaves as 1-byte writes this far
    // apart (a call script's split_frames overrides it per call) ...
    bool splitFrames = false;
    std::chrono::milliseconds splitFrameDelay{1};
    // ... and, > 0, a PING to the host this often on every session (PONGs counted; 0: no pings).
    std::chrono::milliseconds pingInterval{0};
    // The model (docs/simulator.md, "Responses"): response.done follows a response's last item this
    // much later (0: at once); a response.create before it is refused. And what a spoken response (the
    // answer to an accepted response.create) says; empty: no transcript event.
    std::chrono::milliseconds responseDoneDelay{20};
    std::string spokenReply = "Simulated spoken reply.";
    // What calls created over WebRTC (POST /v1/realtime/calls) run once the host connects their
    // sideband (see setCreatedCallScript). Null: defaultCreatedCallScript(the create's session).
    std::shared_ptr<const CallScript> createdCallScript;
};

// One REST call the host made, exactly as received.
struct RestRequest {
    std::string method;
    std::string path;
    // The path's {id} in /v1/realtime/calls/{id}/{action}; create: the id the call got (empty if refused).
    std::string callId;
    std::string action; // create | accept | reject | refer | hangup | (anything else the host sent)
    std::map<std::string, std::string> headers; // lower-case names
    std::string authorization;                  // raw; use redactAuthorization() before printing
    std::string idempotencyKey;                 // empty if absent
    std::string body;                           // as received (create: the whole multipart/form-data body)
    // create (POST /v1/realtime/calls): the form's parts and the answer.
    std::string sdp;                   // the `sdp` part: the browser's SDP offer
    std::string session;               // the `session` part: the session's JSON text
    std::string sdpAnswer;             // 201: the SDP answer sent back
    int status = 0;                    // what the simulator answered
    std::vector<std::string> warnings; // e.g. an accept body without "type":"realtime"
    std::chrono::system_clock::time_point receivedAt;
    SteadyTime receivedSteady;
};

struct RoundTripStats {
    std::size_t count = 0;    // samples: function outputs received (roundTripStats), or resumes (resumeStats)
    std::size_t timeouts = 0; // roundTripStats: scripted calls whose output never came; resumeStats: dead air
    std::chrono::microseconds p50{0}, p90{0}, p99{0}, max{0};
};

// "Bearer sk-abc..." -> "Bearer <redacted>": secrets never reach a trace or a log.
std::string redactAuthorization(const std::string& value);

// Plays OpenAI on 127.0.0.1 for the host, its tests, the demo and plugin authors: the Realtime
// call-control REST endpoints (recorded, with programmable faults), WebRTC call creation (POST
// /v1/realtime/calls: an SDP answer and a call id) and the sideband WebSocket (GA event protocol,
// scripted per call). See docs/simulator.md.
//
// All methods are thread-safe. Sessions outlive stop() as records (their sockets are closed).
class RealtimeSimulator final : private SessionObserver {
public:
    explicit RealtimeSimulator(SimulatorOptions options = {});
    ~RealtimeSimulator() override;
    RealtimeSimulator(const RealtimeSimulator&) = delete;
    RealtimeSimulator& operator=(const RealtimeSimulator&) = delete;

    void start(); // binds and serves; throws std::runtime_error with a readable reason
    void stop();

    std::uint16_t port() const { return port_; }
    bool tls() const;
    std::string baseUrl() const; // "https://127.0.0.1:PORT/v1" (what OPENAI_BASE_URL should be)

    // --- REST recording ---
    std::vector<RestRequest> restRequests() const;
    std::vector<RestRequest> restRequests(const std::string& callId) const;
    bool waitForRestRequests(std::size_t count, std::chrono::milliseconds timeout) const;
    std::optional<RestRequest> waitForRestRequest(const std::string& callId, const std::string& action,
                                                  std::chrono::milliseconds timeout) const;
    void clearRestRequests();
    // The create requests (POST /v1/realtime/calls) so far, refused ones too: sdp, session,
    // authorization, idempotencyKey, status, callId.
    std::vector<RestRequest> createRequests() const;

    // --- REST faults: the next `times` matching requests (action "*" = any; callId empty = any) ---
    // A "create" fault needs an empty callId (a call being created has no id yet).
    // Without `body`, an OpenAI-shaped {"error":{"message","type","code","param":null}} for `status`
    // (401: invalid_request_error / invalid_api_key; 404: call_id_not_found; 429: rate_limit_exceeded;
    // 5xx: server_error; other 4xx: invalid_request_error).
    void failNext(const std::string& action, int status, int times = 1, const std::string& callId = {},
                  const std::string& body = {});
    // 404 {"error":{"message":"call_id_not_found",...}}: the caller already hung up.
    void notFoundNext(const std::string& action, int times = 1, const std::string& callId = {});
    // Answers only after `delay` (then normally, or with a queued failNext). A long delay is a hang.
    void delayNext(const std::string& action, std::chrono::milliseconds delay, int times = 1,
                   const std::string& callId = {});
    void clearFaults();

    // --- sideband sessions ---
    void refuseSessions(bool refuse, int status = 403);
    // true: sideband upgrade requests get no answer until holdUpgrades(false) or stop() - a front
    // end that hangs during the handshake. heldUpgrades() counts the requests waiting now.
    void holdUpgrades(bool hold);
    std::size_t heldUpgrades() const;
    void setScript(const std::string& callId, CallScript script);
    void setScript(const std::string& callId, std::shared_ptr<const CallScript> script);
    // The script every call created from now on runs (overrides SimulatorOptions::createdCallScript;
    // null: defaultCreatedCallScript). setScript(callId, ...) still wins for a call created before.
    void setCreatedCallScript(std::shared_ptr<const CallScript> script);
    std::shared_ptr<SimulatedSession> session(const std::string& callId) const; // latest, or nullptr
    std::shared_ptr<SimulatedSession> waitForSession(const std::string& callId,
                                                     std::chrono::milliseconds timeout) const;
    std::vector<std::shared_ptr<SimulatedSession>> sessions() const;
    std::size_t openSessions() const;
    std::size_t refusedSessions() const;
    // Sideband upgrades that arrived over a resumed TLS session (a ticket from an earlier connection).
    std::size_t resumedTlsUpgrades() const;
    // REST requests that arrived on a connection whose TLS session was resumed.
    std::size_t resumedTlsRestRequests() const;

    // --- network behaviours (the call's latest session) ---
    // The call's sideband connection goes dead without FIN or close frame (SimulatedSession::blackHole).
    // False if the call has no connected session.
    bool blackHole(const std::string& callId);
    std::size_t pongsReceived(const std::string& callId) const; // PONGs the host sent (0: no session)
    std::size_t pingsReceived(const std::string& callId) const; // PINGs the host sent (0: no session)

    // --- measurements ---
    // Tool round trips: first function-call event written -> its function_call_output read.
    std::vector<std::chrono::microseconds> roundTrips() const;
    RoundTripStats roundTripStats() const;
    // Resumes: a function-call response's first arguments.done written -> the accepted response.create
    // after all its outputs read (what the caller hears as the tool's delay); timeouts = dead air.
    std::vector<std::chrono::microseconds> resumes() const;
    RoundTripStats resumeStats() const;
    void resetRoundTrips(); // both
    // The turn-protocol counters of every session so far, summed.
    TurnStats turnStats() const;

    // Every trace line of every session (and each REST call), as it happens; from server threads.
    void setTraceSink(std::function<void(const std::string& callId, const std::string& line)> sink);

private:
    struct Fault {
        std::string action;
        std::string callId;
        int status = 0;
        std::string body;
        std::chrono::milliseconds delay{0};
        int remaining = 0;
    };
    enum class CallState { Unknown, Accepted, Rejected, Ended };
    struct Call {
        std::shared_ptr<const CallScript> script;
        CallState state = CallState::Unknown;
        std::vector<std::shared_ptr<SimulatedSession>> sessions;
        std::string session; // a created call: the create's session JSON (in session.created)
    };
    class Handler;
    class HandlerFactory;

    void handle(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
    void handleRest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
    // create: reads the multipart into record.sdp / record.session; the reason to answer 400, or "".
    std::string readCreateForm(Poco::Net::HTTPServerRequest& request, RestRequest& record) const;
    void handleUpgrade(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
    bool authorized(const Poco::Net::HTTPServerRequest& request) const;
    void emit(const std::string& callId, const std::string& line);

    // SessionObserver
    void onTrace(const std::string& callId, const std::string& line) override;
    void onRoundTrip(std::chrono::microseconds roundTrip) override;
    void onOutputTimeout() override;
    void onResumed(std::chrono::microseconds resumedAfter) override;
    void onDeadAir() override;
    bool restSeen(const std::string& callId, const std::string& action, const std::string& needle) override;

    const SimulatorOptions options_;
    std::uint16_t port_ = 0;
    std::unique_ptr<SessionReactor> reactor_;
    std::unique_ptr<Poco::ThreadPool> pool_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    std::atomic<bool> running_{false};

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<RestRequest> rest_;
    std::vector<Fault> faults_;
    std::map<std::string, Call> calls_;
    std::shared_ptr<const CallScript> createdScript_; // setCreatedCallScript, else the option
    std::vector<std::shared_ptr<SimulatedSession>> allSessions_;
    bool refuse_ = false;
    int refuseStatus_ = 403;
    bool holdUpgrades_ = false;
    std::size_t heldUpgrades_ = 0;
    std::size_t refused_ = 0;
    std::size_t resumedTls_ = 0;
    std::size_t resumedTlsRest_ = 0;
    bool stopping_ = false;

    mutable std::mutex statsMutex_;
    std::vector<std::chrono::microseconds> roundTrips_;
    std::size_t timeouts_ = 0;
    std::vector<std::chrono::microseconds> resumes_;
    std::size_t deadAir_ = 0;

    mutable std::mutex sinkMutex_;
    std::function<void(const std::string&, const std::string&)> sink_;
    std::atomic<bool> hasSink_{false};
};

} // namespace sideband::simulator
