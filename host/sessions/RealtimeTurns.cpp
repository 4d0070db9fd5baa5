#include "sessions/RealtimeTurns.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "openai/RealtimeEvents.h"

#include <Poco/JSON/Array.h>

#include <cctype>

namespace sideband::sessions {
namespace {

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

const std::string& plainResponseCreate() {
    static const std::string text = json::stringify(openai::realtime::responseCreate());
    return text;
}

} // namespace

std::string callEvent(const std::string& type, std::initializer_list<std::pair<const char*, std::string>> fields) {
    auto event = json::object();
    event->set("type", type);
    for (const auto& [name, value] : fields)
        event->set(name, value);
    return json::stringify(event);
}

RealtimeTurns::RealtimeTurns(const calls::AcceptedCall& call, metrics::MetricsRegistry& metrics,
                             tenants::TenantStore& store, const std::atomic<bool>& ended, Output output)
    : call_(call), metrics_(metrics), store_(store), ended_(ended), output_(std::move(output)) {}

void RealtimeTurns::greetingSent(std::string text) {
    std::lock_guard lock(turnMutex_);
    lastCreate_ = std::move(text);
}

void RealtimeTurns::handleEvent(const std::string& text) {
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
        metrics_.increment(metrics::name::kRealtimeErrors, {{"code", errorCodeLabel(code)}});
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

void RealtimeTurns::noteFunctionCall(const std::string& responseId, FunctionCall call) {
    if (call.callId.empty()) return;
    std::lock_guard lock(turnMutex_);
    if (functionCalls_.count(call.callId)) return; // already run or skipped
    auto& calls = responseCalls_[responseId];
    for (const auto& known : calls)
        if (known.callId == call.callId) return;
    calls.push_back(std::move(call));
}

void RealtimeTurns::onResponseDone(const Poco::JSON::Object::Ptr& response) {
    const auto responseId = field(response, "id");
    const auto status = field(response, "status");
    const auto output = response ? response->getArray("output") : nullptr;
    for (std::size_t i = 0; output && i < output->size(); ++i) {
        const auto item = output->getObject(static_cast<unsigned>(i));
        if (field(item, "type") == "function_call")
            noteFunctionCall(responseId, {field(item, "call_id"), field(item, "name"), field(item, "arguments")});
    }
    metrics_.increment(metrics::name::kRealtimeResponses, {{"status", statusLabel(status)}});
    observe("response.done", {{"response_id", responseId}, {"status", status}});

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
        metrics_.increment(metrics::name::kFunctionCallsSkipped, {{"reason", statusLabel(status)}});
        logging::forCall(call_.callId, call_.tenantId)
            .info("tool {} ({}) not run: its response {} ended {}", call.name, call.callId, responseId, status);
    }
    for (const auto& call : toRun)
        runFunctionCall(call);
    if (!createNow.empty()) sendResponseCreate(std::move(createNow));
}

void RealtimeTurns::onActiveResponseConflict() {
    // Our response.create came while a response was running and was dropped: send it again when
    // that response is done, or the caller hears nothing.
    metrics_.increment(metrics::name::kResponseCreateRetries);
    std::lock_guard lock(turnMutex_);
    createWanted_ = lastCreate_.empty() ? plainResponseCreate() : lastCreate_;
    logging::forCall(call_.callId, call_.tenantId)
        .info("response.create refused while response {} runs; sent again after it",
              activeResponse_.empty() ? "(unknown)" : activeResponse_);
}

void RealtimeTurns::runFunctionCall(const FunctionCall& call) {
    logging::forCall(call_.callId, call_.tenantId).info("tool {} ({})", call.name, call.callId);
    observe("function_call", {{"call_id", call.callId}, {"name", call.name}, {"arguments", call.arguments}});
    if (!call_.tools) {
        onFunctionOutput(call.callId, R"({"error":"no tools are available on this call"})");
        return;
    }
    // The owner (the session) is held until the tool answers, and with it these turns.
    call_.tools->invoke({call.name, call.arguments, call.callId},
                        [this, owner = output_.keepAlive ? output_.keepAlive() : nullptr, functionCallId = call.callId](
                            const std::string& output) { onFunctionOutput(functionCallId, output); });
}

void RealtimeTurns::onFunctionOutput(const std::string& functionCallId, const std::string& output) {
    if (ended_) {
        logging::forCall(call_.callId, call_.tenantId)
            .info("tool output for {} dropped: the call has ended", functionCallId);
        return;
    }
    // Posted to the loop before this output is counted as sent: a response.create decided from then
    // on (here, or by a worker at a response.done) is posted after it and so goes out after it.
    output_.send(json::stringify(openai::realtime::functionCallOutput(functionCallId, output)));
    metrics_.increment(metrics::name::kFunctionOutputs);
    observe("function_call_output", {{"call_id", functionCallId}, {"output", output}});
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

void RealtimeTurns::sendResponseCreate(std::string text) {
    if (ended_) return;
    {
        std::lock_guard lock(turnMutex_);
        lastCreate_ = text;
    }
    output_.send(std::move(text));
}

void RealtimeTurns::observe(const std::string& type,
                            std::initializer_list<std::pair<const char*, std::string>> fields) const {
    if (call_.observer) call_.observer->onCallEvent(callEvent(type, fields));
}

void RealtimeTurns::recordTranscript(const std::string& speaker, const std::string& text) {
    if (text.empty()) return;
    const tenants::TranscriptLine line{speaker, text};
    logging::forCall(call_.callId, call_.tenantId).debug("{}: {}", speaker, text);
    observe("transcript", {{"speaker", speaker}, {"text", text}});
    try {
        store_.appendTranscript(call_.callId, line);
    } catch (const tenants::StoreError& e) {
        metrics_.increment(metrics::name::kStoreErrors, {{"tenant", call_.tenantId}, {"operation", "transcript"}});
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

} // namespace sideband::sessions
