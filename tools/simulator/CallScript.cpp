#include "CallScript.h"

#include "core/Json.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <fstream>
#include <set>
#include <sstream>

namespace sideband::simulator {

const char* describe(CloseMode mode) {
    switch (mode) {
    case CloseMode::CloseFrame:
        return "close frame";
    case CloseMode::Abrupt:
        return "abrupt (no close frame)";
    case CloseMode::Reset:
        return "reset";
    }
    return "?";
}

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

// Every error names the field by its path, so a plugin author can fix the file without a debugger.
[[noreturn]] void fail(const std::string& path, const std::string& message) {
    throw ScenarioError(path + ": " + message);
}

void rejectUnknownKeys(const Object::Ptr& object, const std::string& path, const std::set<std::string>& known) {
    for (const auto& [key, value] : *object) {
        (void)value;
        if (!known.count(key)) fail(path + "." + key, "unknown field");
    }
}

std::string requiredString(const Object::Ptr& object, const std::string& key, const std::string& path) {
    if (!object->has(key)) fail(path + "." + key, "required string is missing");
    const auto value = object->get(key);
    if (!value.isString()) fail(path + "." + key, "must be a string");
    return value.extract<std::string>();
}

std::string optionalString(const Object::Ptr& object, const std::string& key, const std::string& path,
                           const std::string& fallback = {}) {
    if (!object->has(key) || object->isNull(key)) return fallback;
    const auto value = object->get(key);
    if (!value.isString()) fail(path + "." + key, "must be a string");
    return value.extract<std::string>();
}

long long optionalInteger(const Object::Ptr& object, const std::string& key, const std::string& path,
                          long long fallback, long long min = 0) {
    if (!object->has(key)) return fallback;
    const auto value = object->get(key);
    if (!value.isInteger()) fail(path + "." + key, "must be an integer");
    const auto number = value.convert<long long>();
    if (number < min) fail(path + "." + key, "must be >= " + std::to_string(min));
    return number;
}

bool optionalBool(const Object::Ptr& object, const std::string& key, const std::string& path, bool fallback) {
    if (!object->has(key)) return fallback;
    const auto value = object->get(key);
    if (!value.isBoolean()) fail(path + "." + key, "must be true or false");
    return value.extract<bool>();
}

// A string or an array of strings.
std::vector<std::string> stringList(const Object::Ptr& object, const std::string& key, const std::string& path) {
    std::vector<std::string> out;
    if (!object->has(key)) return out;
    const auto value = object->get(key);
    if (value.isString()) return {value.extract<std::string>()};
    const auto array = object->getArray(key);
    if (!array) fail(path + "." + key, "must be a string or an array of strings");
    for (std::size_t i = 0; i < array->size(); ++i) {
        if (!array->get(i).isString()) fail(path + "." + key + "[" + std::to_string(i) + "]", "must be a string");
        out.push_back(array->get(i).extract<std::string>());
    }
    return out;
}

Object::Ptr requiredObject(const Poco::Dynamic::Var& value, const std::string& path) {
    if (value.type() != typeid(Object::Ptr)) fail(path, "must be an object");
    return value.extract<Object::Ptr>();
}

const std::set<std::string> kRestActions = {"create", "accept", "reject", "refer", "hangup"};

// A function call's "arguments": an object (sent as its JSON text) or a JSON string (sent as is).
std::string parseArguments(const Object::Ptr& call, const std::string& field) {
    if (!call->has("arguments")) return "{}";
    if (call->get("arguments").isString()) return call->get("arguments").extract<std::string>();
    if (call->getObject("arguments")) return json::stringify(call->get("arguments"));
    fail(field + ".arguments", "must be an object (or a JSON string)");
}

// {"name","arguments","call_id"} of one function call, plus the `extra` keys the caller reads itself.
FunctionCallSpec parseCallSpec(const Object::Ptr& call, const std::string& field, std::set<std::string> extra = {}) {
    extra.insert({"name", "arguments", "call_id"});
    rejectUnknownKeys(call, field, extra);
    FunctionCallSpec spec;
    spec.name = requiredString(call, "name", field);
    if (spec.name.empty()) fail(field + ".name", "must not be empty");
    spec.argumentsJson = parseArguments(call, field);
    spec.callId = optionalString(call, "call_id", field);
    return spec;
}

void parseSteps(const Poco::Dynamic::Var& value, const std::string& path, std::vector<Step>& out);

void parseStep(const Object::Ptr& object, const std::string& path, std::vector<Step>& out) {
    static const std::set<std::string> kinds = {
        "say",         "function_call", "function_calls", "barge_in",  "expect_output_contains",
        "wait_ms",     "idle_s",        "error",          "raw",       "unknown_event",
        "expect_rest", "hangup",        "repeat",         "black_hole"};
    std::string kind;
    for (const auto& [key, v] : *object) {
        (void)v;
        if (!kinds.count(key)) continue;
        if (!kind.empty()) fail(path, "has both '" + kind + "' and '" + key + "'; one action per step");
        kind = key;
    }
    if (kind.empty())
        fail(path, "needs one of say, function_call, function_calls, barge_in, expect_output_contains, wait_ms, "
                   "idle_s, error, raw, unknown_event, expect_rest, hangup, repeat, black_hole");
    Step step;
    const auto field = path + "." + kind;
    if (kind == "say") {
        rejectUnknownKeys(object, path, {"say", "text"});
        step.kind = Step::Kind::Say;
        step.speaker = requiredString(object, "say", path);
        if (step.speaker != "caller" && step.speaker != "agent") fail(field, "must be \"caller\" or \"agent\"");
        step.text = requiredString(object, "text", path);
    } else if (kind == "function_call") {
        rejectUnknownKeys(object, path, {"function_call"});
        const auto call = requiredObject(object->get(kind), field);
        const auto spec = parseCallSpec(call, field, {"await_output", "timeout_ms"});
        step.kind = Step::Kind::FunctionCall;
        step.name = spec.name;
        step.argumentsJson = spec.argumentsJson;
        step.callId = spec.callId;
        step.awaitOutput = optionalBool(call, "await_output", field, true);
        step.timeout = std::chrono::milliseconds(optionalInteger(call, "timeout_ms", field, 10000, 1));
    } else if (kind == "function_calls") {
        rejectUnknownKeys(object, path, {"function_calls", "await_output", "timeout_ms"});
        step.kind = Step::Kind::FunctionCalls;
        const auto value = object->get(kind);
        if (value.type() != typeid(Array::Ptr)) fail(field, "must be an array of {\"name\",\"arguments\"}");
        const auto array = value.extract<Array::Ptr>();
        if (array->size() == 0) fail(field, "must not be empty");
        std::set<std::string> fixedIds;
        for (std::size_t i = 0; i < array->size(); ++i) {
            const auto callPath = field + "[" + std::to_string(i) + "]";
            step.calls.push_back(parseCallSpec(requiredObject(array->get(i), callPath), callPath));
            const auto& id = step.calls.back().callId;
            if (!id.empty() && !fixedIds.insert(id).second) fail(callPath + ".call_id", "repeats " + id);
        }
        step.awaitOutput = optionalBool(object, "await_output", path, true);
        step.timeout = std::chrono::milliseconds(optionalInteger(object, "timeout_ms", path, 10000, 1));
    } else if (kind == "barge_in") {
        rejectUnknownKeys(object, path, {"barge_in"});
        const auto call = requiredObject(object->get(kind), field);
        const auto spec = parseCallSpec(call, field, {"quiet_ms", "caller_says"});
        step.kind = Step::Kind::BargeIn;
        step.name = spec.name;
        step.argumentsJson = spec.argumentsJson;
        step.callId = spec.callId;
        step.quiet = std::chrono::milliseconds(optionalInteger(call, "quiet_ms", field, 300, 0));
        step.text = optionalString(call, "caller_says", field);
    } else if (kind == "expect_output_contains") {
        rejectUnknownKeys(object, path, {"expect_output_contains"});
        step.kind = Step::Kind::ExpectOutputContains;
        step.text = requiredString(object, kind, path);
    } else if (kind == "wait_ms" || kind == "idle_s") {
        rejectUnknownKeys(object, path, {kind});
        step.kind = Step::Kind::Wait;
        const auto amount = optionalInteger(object, kind, path, 0, 0);
        step.duration = kind == "wait_ms" ? std::chrono::milliseconds(amount) : std::chrono::seconds(amount);
    } else if (kind == "error") {
        rejectUnknownKeys(object, path, {"error"});
        const auto error = requiredObject(object->get(kind), field);
        rejectUnknownKeys(error, field, {"code", "message", "type"});
        step.kind = Step::Kind::Error;
        step.errorCode = requiredString(error, "code", field);
        step.text = optionalString(error, "message", field, "Simulated error: " + step.errorCode);
        step.errorType = optionalString(error, "type", field, "invalid_request_error");
    } else if (kind == "raw") {
        rejectUnknownKeys(object, path, {"raw"});
        const auto raw = requiredObject(object->get(kind), field);
        if (!raw->has("type")) fail(field + ".type", "required string is missing");
        step.kind = Step::Kind::Raw;
        step.json = json::stringify(raw);
    } else if (kind == "unknown_event") {
        rejectUnknownKeys(object, path, {"unknown_event"});
        step.kind = Step::Kind::Raw;
        auto raw = json::object();
        raw->set("type", requiredString(object, kind, path));
        raw->set("event_id", "event_unknown");
        raw->set("note", "an event type the host does not know; it must be ignored");
        step.json = json::stringify(raw);
    } else if (kind == "expect_rest") {
        rejectUnknownKeys(object, path, {"expect_rest"});
        step.kind = Step::Kind::ExpectRest;
        step.timeout = std::chrono::milliseconds(5000);
        if (object->get(kind).isString()) {
            step.action = object->get(kind).extract<std::string>();
        } else {
            const auto rest = requiredObject(object->get(kind), field);
            rejectUnknownKeys(rest, field, {"action", "body_contains", "timeout_ms"});
            step.action = requiredString(rest, "action", field);
            step.text = optionalString(rest, "body_contains", field);
            step.timeout = std::chrono::milliseconds(optionalInteger(rest, "timeout_ms", field, 5000, 1));
        }
        if (!kRestActions.count(step.action)) fail(field, "action must be create, accept, reject, refer or hangup");
    } else if (kind == "black_hole") {
        rejectUnknownKeys(object, path, {"black_hole"});
        if (!optionalBool(object, kind, path, false)) fail(field, "must be true");
        step.kind = Step::Kind::BlackHole;
    } else if (kind == "hangup") {
        rejectUnknownKeys(object, path, {"hangup", "close_frame", "close"});
        step.kind = Step::Kind::Hangup;
        const auto who = requiredString(object, "hangup", path);
        if (who != "caller") fail(field, "must be \"caller\" (the host hangs up through REST)");
        step.closeMode = optionalBool(object, "close_frame", path, true) ? CloseMode::CloseFrame : CloseMode::Abrupt;
        const auto close = optionalString(object, "close", path);
        if (close == "close_frame")
            step.closeMode = CloseMode::CloseFrame;
        else if (close == "abrupt")
            step.closeMode = CloseMode::Abrupt;
        else if (close == "reset")
            step.closeMode = CloseMode::Reset;
        else if (!close.empty())
            fail(path + ".close", "must be close_frame, abrupt or reset");
    } else { // repeat
        rejectUnknownKeys(object, path, {"repeat"});
        const auto repeat = requiredObject(object->get(kind), field);
        rejectUnknownKeys(repeat, field, {"times", "steps"});
        const auto times = optionalInteger(repeat, "times", field, 1, 1);
        if (!repeat->has("steps")) fail(field + ".steps", "required array is missing");
        const auto start = out.size();
        parseSteps(repeat->get("steps"), field + ".steps", out);
        if (times > 1 && out.size() > start) {
            Step loop;
            loop.kind = Step::Kind::Loop;
            loop.target = start;
            loop.times = static_cast<int>(times);
            out.push_back(loop);
        }
        return;
    }
    out.push_back(std::move(step));
}

void parseSteps(const Poco::Dynamic::Var& value, const std::string& path, std::vector<Step>& out) {
    if (value.type() != typeid(Array::Ptr)) fail(path, "must be an array");
    const auto array = value.extract<Array::Ptr>();
    for (std::size_t i = 0; i < array->size(); ++i) {
        const auto stepPath = path + "[" + std::to_string(i) + "]";
        parseStep(requiredObject(array->get(i), stepPath), stepPath, out);
    }
}

ConnectBehaviour parseConnect(const std::string& value, const std::string& path) {
    if (value.empty() || value == "accept") return ConnectBehaviour::Accept;
    if (value == "refuse_403") return ConnectBehaviour::Refuse403;
    if (value == "refuse_404") return ConnectBehaviour::Refuse404;
    if (value == "close_immediately") return ConnectBehaviour::CloseImmediately;
    fail(path, "must be accept, refuse_403, refuse_404 or close_immediately");
}

// A scenario call's faults are queued under its call id, which a create (a WebRTC call's first
// request) never has: `create` belongs in --webrtc-script's rest_faults only.
enum class CreateFaults { Allowed, Refused };

std::vector<RestFault> parseRestFaults(const Poco::Dynamic::Var& value, const std::string& path, CreateFaults create) {
    if (value.type() != typeid(Array::Ptr)) fail(path, "must be an array of {\"action\",\"status\"}");
    const auto array = value.extract<Array::Ptr>();
    std::vector<RestFault> faults;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const auto faultPath = path + "[" + std::to_string(i) + "]";
        const auto object = requiredObject(array->get(i), faultPath);
        rejectUnknownKeys(object, faultPath, {"action", "status", "times", "delay_ms"});
        RestFault fault;
        fault.action = requiredString(object, "action", faultPath);
        if (fault.action != "*" && !kRestActions.count(fault.action))
            fail(faultPath + ".action", create == CreateFaults::Allowed
                                            ? "must be create, accept, reject, refer, hangup or *"
                                            : "must be accept, reject, refer, hangup or *");
        if (fault.action == "create" && create == CreateFaults::Refused)
            fail(faultPath + ".action", "create never reaches a scenario call (it has no call id yet): put it in "
                                        "--webrtc-script's rest_faults");
        fault.status = static_cast<int>(optionalInteger(object, "status", faultPath, 0, 0));
        if (fault.status != 0 && (fault.status < 400 || fault.status > 599))
            fail(faultPath + ".status", "must be an HTTP error status (400-599)");
        fault.times = static_cast<int>(optionalInteger(object, "times", faultPath, 1, 1));
        fault.delay = std::chrono::milliseconds(optionalInteger(object, "delay_ms", faultPath, 0, 0));
        if (fault.status == 0 && fault.delay.count() == 0) fail(faultPath, "needs a status or a delay_ms");
        faults.push_back(fault);
    }
    return faults;
}

CallExpectations parseExpectations(const Object::Ptr& object, const std::string& path) {
    rejectUnknownKeys(object, path,
                      {"webhook_status", "webhook_body_contains", "outcome", "reject_status_code", "rest", "no_rest",
                       "accept_body_contains", "session_update_contains", "allow_accept_warnings"});
    CallExpectations expect;
    expect.webhookStatus = static_cast<int>(optionalInteger(object, "webhook_status", path, 200, 100));
    expect.webhookBodyContains = stringList(object, "webhook_body_contains", path);
    expect.outcome = optionalString(object, "outcome", path, "accept");
    if (expect.outcome != "accept" && expect.outcome != "reject" && expect.outcome != "none" && expect.outcome != "any")
        fail(path + ".outcome", "must be accept, reject, none or any");
    expect.rejectStatusCode = static_cast<int>(optionalInteger(object, "reject_status_code", path, 0));
    expect.restCalls = stringList(object, "rest", path);
    expect.noRestCalls = stringList(object, "no_rest", path);
    for (const auto* list : {&expect.restCalls, &expect.noRestCalls})
        for (const auto& action : *list)
            if (!kRestActions.count(action))
                fail(path + (list == &expect.restCalls ? ".rest" : ".no_rest"), "unknown action '" + action + "'");
    expect.acceptBodyContains = stringList(object, "accept_body_contains", path);
    expect.sessionUpdateContains = stringList(object, "session_update_contains", path);
    expect.allowAcceptWarnings = optionalBool(object, "allow_accept_warnings", path, false);
    return expect;
}

ScenarioCall parseCall(const Object::Ptr& object, const std::string& path) {
    rejectUnknownKeys(object, path,
                      {"name", "call_id", "from", "from_name", "to", "sip_headers", "connect", "expect", "steps",
                       "timeout_ms", "linger_ms", "ended_webhook", "redeliver", "split_frames", "rest_faults"});
    ScenarioCall call;
    call.name = optionalString(object, "name", path, path);
    call.callId = optionalString(object, "call_id", path);
    call.from = optionalString(object, "from", path, call.from);
    call.fromName = optionalString(object, "from_name", path);
    call.to = optionalString(object, "to", path, call.to);
    if (object->has("sip_headers")) {
        const auto headers = object->getArray("sip_headers");
        if (!headers) fail(path + ".sip_headers", "must be an array of {\"name\",\"value\"}");
        for (std::size_t i = 0; i < headers->size(); ++i) {
            const auto headerPath = path + ".sip_headers[" + std::to_string(i) + "]";
            const auto header = requiredObject(headers->get(i), headerPath);
            call.extraSipHeaders.emplace_back(requiredString(header, "name", headerPath),
                                              requiredString(header, "value", headerPath));
        }
    }
    auto script = std::make_shared<CallScript>();
    script->connect = parseConnect(optionalString(object, "connect", path), path + ".connect");
    if (object->has("split_frames")) script->splitFrames = optionalBool(object, "split_frames", path, false);
    if (object->has("steps")) parseSteps(object->get("steps"), path + ".steps", script->steps);
    call.script = std::move(script);
    if (object->has("expect"))
        call.expect = parseExpectations(requiredObject(object->get("expect"), path + ".expect"), path + ".expect");
    call.timeout = std::chrono::milliseconds(optionalInteger(object, "timeout_ms", path, 30000, 1));
    call.lingerMs = std::chrono::milliseconds(optionalInteger(object, "linger_ms", path, 1000, 0));
    call.sendEndedWebhook = optionalBool(object, "ended_webhook", path, false);
    call.redeliver = static_cast<int>(optionalInteger(object, "redeliver", path, 0, 0));
    if (object->has("rest_faults"))
        call.restFaults = parseRestFaults(object->get("rest_faults"), path + ".rest_faults", CreateFaults::Refused);
    return call;
}

std::string readFile(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ScenarioError("cannot read " + what + " " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

Poco::Dynamic::Var parseDocument(const std::string& jsonText) {
    try {
        Poco::JSON::Parser parser;
        return parser.parse(jsonText);
    } catch (const Poco::Exception& e) {
        throw ScenarioError("scenario is not valid JSON: " + e.displayText());
    }
}

} // namespace

Scenario parseScenario(const std::string& jsonText) {
    const auto root = requiredObject(parseDocument(jsonText), "scenario");
    rejectUnknownKeys(root, "scenario", {"calls", "description"});
    if (!root->has("calls")) fail("calls", "required array is missing");
    const auto calls = root->get("calls");
    if (calls.type() != typeid(Array::Ptr)) fail("calls", "must be an array");
    Scenario scenario;
    const auto array = calls.extract<Array::Ptr>();
    if (array->size() == 0) fail("calls", "must not be empty");
    for (std::size_t i = 0; i < array->size(); ++i) {
        const auto path = "calls[" + std::to_string(i) + "]";
        scenario.calls.push_back(parseCall(requiredObject(array->get(i), path), path));
    }
    return scenario;
}

Scenario loadScenario(const std::string& path) {
    return parseScenario(readFile(path, "scenario file"));
}

CallScript parseCallScript(const std::string& jsonText) {
    CallScript script;
    parseSteps(parseDocument(jsonText), "steps", script.steps);
    return script;
}

CreatedCallScript parseCreatedCallScript(const std::string& jsonText) {
    const auto root = parseDocument(jsonText);
    auto script = std::make_shared<CallScript>();
    CreatedCallScript created;
    if (root.type() == typeid(Array::Ptr)) {
        parseSteps(root, "steps", script->steps);
    } else {
        const auto object = requiredObject(root, "script");
        rejectUnknownKeys(object, "script", {"description", "connect", "split_frames", "steps", "rest_faults"});
        script->connect = parseConnect(optionalString(object, "connect", "script"), "script.connect");
        if (object->has("split_frames")) script->splitFrames = optionalBool(object, "split_frames", "script", false);
        if (object->has("steps")) parseSteps(object->get("steps"), "script.steps", script->steps);
        if (object->has("rest_faults"))
            created.restFaults =
                parseRestFaults(object->get("rest_faults"), "script.rest_faults", CreateFaults::Allowed);
    }
    created.script = std::move(script);
    return created;
}

CreatedCallScript loadCreatedCallScript(const std::string& path) {
    return parseCreatedCallScript(readFile(path, "script file"));
}

CallScript defaultCreatedCallScript(const std::string& sessionJson) {
    std::string firstTool;
    const auto session = json::parse(sessionJson);
    if (session.type() == typeid(Object::Ptr)) {
        const auto tools = session.extract<Object::Ptr>()->getArray("tools");
        for (std::size_t i = 0; tools && i < tools->size() && firstTool.empty(); ++i) {
            const auto tool = tools->getObject(static_cast<unsigned>(i));
            if (tool && tool->has("name") && tool->get("name").isString())
                firstTool = tool->getValue<std::string>("name");
        }
    }
    CallScript script;
    Step greeting;
    greeting.kind = Step::Kind::Say;
    greeting.speaker = "agent";
    greeting.text = "Hello, this is the simulated assistant. How can I help?";
    script.steps.push_back(greeting);
    if (firstTool.empty()) return script;
    Step ask;
    ask.kind = Step::Kind::Say;
    ask.speaker = "caller";
    ask.text = "Could you look that up for me?";
    script.steps.push_back(ask);
    Step call;
    call.kind = Step::Kind::FunctionCall;
    call.name = firstTool;
    call.argumentsJson = "{}";
    script.steps.push_back(call);
    return script;
}

} // namespace sideband::simulator
