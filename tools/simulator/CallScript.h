#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sideband::simulator {

// How the simulated caller's side ends a sideband WebSocket. OpenAI closes the socket at once when
// the caller hangs up, often without a close frame (reference §3), so the host must survive all three.
enum class CloseMode {
    CloseFrame, // WebSocket CLOSE 1000, then wait for the host's CLOSE (bounded), then close TCP
    Abrupt,     // shutdown(2) + close the TCP socket: no close frame, no TLS close_notify
    Reset,      // SO_LINGER 0 + close: the host sees ECONNRESET
};
const char* describe(CloseMode mode);

// What the simulator does with the host's sideband WebSocket upgrade for a scripted call.
enum class ConnectBehaviour {
    Accept,
    Refuse403,
    Refuse404,
    CloseImmediately, // completes the upgrade, then drops the TCP connection without a frame
};

// One function call of a model response (the `function_calls` step has several).
struct FunctionCallSpec {
    std::string name;
    std::string argumentsJson = "{}"; // the arguments as a JSON text (sent as a JSON string)
    std::string callId;               // fixed call_id (empty: generated)
};

// One instruction of a call's script. Scripts are flattened at parse time: `repeat` becomes its body
// followed by a Loop step that jumps back `times - 1` times, so a session only keeps a program counter.
struct Step {
    enum class Kind {
        Say,                  // speaker + text -> transcript event
        FunctionCall,         // name + argumentsJson [+ callId] -> a response with one function call, then wait
        FunctionCalls,        // calls -> one response with several function calls (parallel), then wait
        BargeIn,              // name + argumentsJson [+ callId] -> a function call whose response ends cancelled
        ExpectOutputContains, // text must occur in the previous function call's output
        Wait,                 // duration: keep the call open and quiet (idle calls for load tests)
        Error,                // errorCode/errorType/text -> an `error` event
        Raw,                  // json sent verbatim (e.g. an unknown event type the host must ignore)
        ExpectRest,           // wait (timeout) for the host's REST `action` on this call
        Hangup,               // the caller hangs up: close the socket with closeMode; ends the script
        BlackHole,            // the network goes dead: no more reads or writes, socket kept open; ends the script
        Loop,                 // jump back to `target` until it ran `times` times
    };
    Kind kind = Kind::Wait;
    std::string speaker;       // Say: "caller" | "agent"
    std::string text;          // Say text, ExpectOutputContains needle, Error message, ExpectRest body needle,
                               // BargeIn: what the caller says after the cancel (empty: nothing)
    std::string name;          // FunctionCall
    std::string argumentsJson; // FunctionCall: the arguments as a JSON text (sent as a JSON string)
    std::string callId;        // FunctionCall: fixed call_id (empty: generated)
    bool awaitOutput = true;   // FunctionCall(s): wait for every function_call_output + the response.create
    std::vector<FunctionCallSpec> calls;         // FunctionCalls
    std::chrono::milliseconds timeout{10000};    // FunctionCall(s) / ExpectRest
    std::chrono::milliseconds quiet{300};        // BargeIn: no output, no response.create this long after the cancel
    std::chrono::milliseconds duration{0};       // Wait
    std::string errorCode;                       // Error
    std::string errorType;                       // Error
    std::string json;                            // Raw
    std::string action;                          // ExpectRest: create | accept | reject | refer | hangup
    CloseMode closeMode = CloseMode::CloseFrame; // Hangup
    std::size_t target = 0;                      // Loop
    int times = 1;                               // Loop
};

// The "model" and the caller for one call: what happens after the host connects its sideband socket.
struct CallScript {
    ConnectBehaviour connect = ConnectBehaviour::Accept;
    std::optional<bool> splitFrames; // unset: SimulatorOptions::splitFrames
    std::vector<Step> steps;
};

// What a scenario call must observe to pass.
struct CallExpectations {
    int webhookStatus = 200;
    std::vector<std::string> webhookBodyContains;
    std::string outcome = "accept";       // accept | reject | none | any
    int rejectStatusCode = 0;             // 0: not checked; else the reject body's status_code
    std::vector<std::string> restCalls;   // actions that must have been called (e.g. "refer")
    std::vector<std::string> noRestCalls; // actions that must not have been called
    std::vector<std::string> acceptBodyContains;
    std::vector<std::string> sessionUpdateContains; // in any session.update the host sent
    bool allowAcceptWarnings = false;               // accept body without "type":"realtime" fails by default
};

// A REST fault a scenario queues for its call before the webhook (RealtimeSimulator::failNext /
// delayNext): e.g. the accept answers 401 once.
struct RestFault {
    std::string action; // create | accept | reject | refer | hangup | *
    int status = 0;     // 0: only a delay
    int times = 1;
    std::chrono::milliseconds delay{0};
};

// One simulated phone call of a scenario file.
struct ScenarioCall {
    std::string name;
    std::string callId; // empty: a fresh rtc_... id per run
    std::string from = "+14155550100";
    std::string fromName;
    std::string to = "+18005550123";
    std::vector<std::pair<std::string, std::string>> extraSipHeaders;
    CallExpectations expect;
    std::shared_ptr<const CallScript> script;
    std::chrono::milliseconds timeout{30000}; // the whole call, from webhook to close
    std::chrono::milliseconds lingerMs{1000}; // after the script, before the simulator hangs up itself
    bool sendEndedWebhook = false;            // realtime.call.ended after the call closed
    int redeliver = 0;                        // extra deliveries of the same incoming event
    std::vector<RestFault> restFaults;        // queued for this call id before the webhook goes out
};

struct Scenario {
    std::vector<ScenarioCall> calls;
};

// A scenario file that does not parse; the message names the field ("calls[0].steps[2].function_call.name: ...").
class ScenarioError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

Scenario parseScenario(const std::string& jsonText);
Scenario loadScenario(const std::string& path);

// Parses just a steps array (the "steps" of one call), for tests and `setScript` from JSON.
CallScript parseCallScript(const std::string& jsonText);

// What calls created over WebRTC (`POST /v1/realtime/calls`) run once the host connects their
// sideband: a steps array, or {"steps":[...], "connect", "split_frames", "rest_faults"} (the keys
// of a scenario call that mean something before a call exists; "description" is ignored).
struct CreatedCallScript {
    std::shared_ptr<const CallScript> script;
    std::vector<RestFault> restFaults; // queued for any call id: a call being created has none yet
};
CreatedCallScript parseCreatedCallScript(const std::string& jsonText);
CreatedCallScript loadCreatedCallScript(const std::string& path);

// The script of a created call when none was chosen: the agent greets; if the session (the create
// request's `session` JSON) has tools, the caller asks and the model calls the first one once with
// arguments {} (its output and one response.create awaited). Then the call stays open until the
// host hangs up (REST) or closes the socket.
CallScript defaultCreatedCallScript(const std::string& sessionJson);

} // namespace sideband::simulator
