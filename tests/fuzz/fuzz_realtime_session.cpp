// libFuzzer target: a call's Realtime conversation, server events in -> frames out.
// Drives sessions::RealtimeTurns (what SidebandSession does with each text frame its socket
// delivers) with a fake tool set and a recording output, as a session worker would: one event at a
// time. The input is a script read with FuzzedDataProvider: valid event skeletons with fuzzed fields
// (response.created, response.output_item.done and response.function_call_arguments.done with a
// function call, response.done with a status and function-call outputs, error with a code,
// transcripts, session events), raw frames of fuzzed text, a deferred tool answering (tools answer
// at once on the calling thread, like the sessions suite's InstantTools, or later, like a pool), the
// call being transferred (CallActions::endedCall) and the call ending.
//
// Properties (abort when violated):
//   - every frame sent is a JSON object: a conversation.item.create whose item is a
//     function_call_output with a non-empty call_id and the tool's output as a string, or a
//     response.create; each is valid UTF-8 (the events and tool outputs are: see utf8());
//   - never two function_call_outputs for one call_id; a tool is invoked at most once per call_id;
//     an output is sent only for a call_id a tool was invoked with, carrying that tool's output;
//   - no response.create without a reason: at most one per function_call_output sent plus one per
//     `conversation_already_has_active_response` error;
//   - nothing is sent once the call has ended;
//   - nothing throws out of handleEvent; no crash or leak.
#include "FuzzSupport.h"

#include "calls/SessionLauncher.h"
#include "core/Json.h"
#include "metrics/MetricsRegistry.h"
#include "metrics/SidebandMetrics.h"
#include "openai/RealtimeEvents.h"
#include "plugins/CallTools.h"
#include "sessions/RealtimeTurns.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>

#include <fuzzer/FuzzedDataProvider.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace sideband;

namespace {

bool validUtf8(const std::string& text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    for (std::size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        std::size_t extra = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + extra >= n) return false;
        for (std::size_t k = 1; k <= extra; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) return false;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += extra + 1;
    }
    return true;
}

// Fuzzed bytes as valid UTF-8 (each byte over 0x7F becomes U+0080..U+00FF): what the session can
// receive. wslay refuses a text frame that is not UTF-8, and tool outputs are JSON text the host
// has parsed or produced (sdk::loader::runTool, the runner's frames).
std::string utf8(const std::string& bytes) {
    std::string text;
    for (char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x80) {
            text.push_back(c);
        } else {
            text.push_back(static_cast<char>(0xC0 | (b >> 6)));
            text.push_back(static_cast<char>(0x80 | (b & 0x3F)));
        }
    }
    return text;
}

class NullStore final : public tenants::TenantStore {
public:
    bool failTranscripts = false;
    std::size_t transcripts = 0;
    std::optional<std::string> tenantForNumber(const std::string&) override { return std::nullopt; }
    tenants::Instructions instructions(const std::string&) override { return {}; }
    tenants::TenantConfig config(const std::string&) override { return {}; }
    void upsertTenant(const tenants::TenantDefinition&) override {}
    std::vector<tenants::TenantDefinition> listTenants() override { return {}; }
    void saveCall(const tenants::CallRecord&) override {}
    void recordCallEnded(const std::string&, const std::string&, tenants::CallRecord::time_point) override {}
    std::optional<tenants::CallRecord> findCall(const std::string&) override { return std::nullopt; }
    void appendTranscript(const std::string&, const tenants::TranscriptLine&) override {
        if (failTranscripts) throw tenants::StoreError(tenants::StoreErrorCode::Unavailable, "store down");
        ++transcripts;
    }
    std::vector<tenants::TranscriptLine> transcript(const std::string&) override { return {}; }
    void saveWebToken(const tenants::WebToken&, const std::string&) override {}
    std::vector<tenants::WebToken> webTokens(const std::string&) override { return {}; }
    bool revokeWebToken(const std::string&, const std::string&) override { return false; }
    std::optional<tenants::WebToken> webTokenBySecretHash(const std::string&) override { return std::nullopt; }
};

class FakeActions final : public plugins::CallActions {
public:
    bool ended = false;
    void transfer(const std::string&) override { ended = true; }
    void hangup() override { ended = true; }
    bool endedCall() const override { return ended; }
};

// Tools that answer at once on the calling thread, or later when the script says so. Each
// invocation's output is chosen by the script too; it is remembered to check what is sent.
class ScriptedTools final : public plugins::CallTools {
public:
    bool deferNext = false;
    std::string nextOutput = R"({"ok":true})";
    std::map<std::string, std::string> outputs; // function call id -> the output given
    std::vector<std::pair<std::string, Done>> pending;
    std::size_t invocations = 0;

    std::vector<plugins::ToolSpec> tools() const override { return {{"lookup_order", "Look up an order", nullptr}}; }
    using CallTools::invoke;
    void invoke(const plugins::ToolInvocation& invocation, Done done) override {
        ++invocations;
        FUZZ_CHECK(outputs.count(invocation.functionCallId) == 0); // once per call_id
        outputs[invocation.functionCallId] = nextOutput;
        if (deferNext)
            pending.emplace_back(invocation.functionCallId, std::move(done));
        else
            done(nextOutput);
    }
};

metrics::MetricsRegistry& registry() {
    static metrics::MetricsRegistry* registry = [] {
        auto* r = new metrics::MetricsRegistry;
        metrics::declareSidebandMetrics(*r);
        return r;
    }();
    return *registry;
}

const char* const kResponseIds[] = {"resp_1", "resp_2", "resp_3", ""};
const char* const kCallIds[] = {"call_a", "call_b", "call_c", "call_d", ""};
const char* const kStatuses[] = {"completed", "cancelled", "incomplete", "failed", "in_progress"};
const char* const kErrorCodes[] = {"conversation_already_has_active_response", "invalid_value", "server_error", ""};
const char* const kOutputs[] = {R"({"ok":true})", R"({"error":"unknown tool"})", "", "{\"name\":\"Zo\xC3\xAB\"}"};

struct Harness {
    calls::AcceptedCall call;
    NullStore store;
    std::atomic<bool> ended{false};
    std::shared_ptr<ScriptedTools> tools;
    std::shared_ptr<FakeActions> actions = std::make_shared<FakeActions>();
    std::vector<std::string> sent;
    std::size_t conflicts = 0; // conversation_already_has_active_response errors received

    void send(std::string text) {
        FUZZ_CHECK(!ended.load()); // nothing is sent once the call has ended
        sent.push_back(std::move(text));
    }
};

std::string pick(FuzzedDataProvider& in, const char* const* options, std::size_t count) {
    if (in.ConsumeBool()) return utf8(in.ConsumeRandomLengthString(24));
    return options[in.ConsumeIntegralInRange<std::size_t>(0, count - 1)];
}
#define PICK(in, options) pick(in, options, sizeof(options) / sizeof(options[0]))

Poco::JSON::Object::Ptr functionCallItem(FuzzedDataProvider& in) {
    auto item = json::object();
    item->set("type", in.ConsumeIntegralInRange(0, 7) == 0 ? std::string("message") : std::string("function_call"));
    item->set("call_id", PICK(in, kCallIds));
    item->set("name", std::string("lookup_order"));
    item->set("arguments", in.ConsumeBool() ? std::string(R"({"order":42})") : utf8(in.ConsumeRandomLengthString(32)));
    return item;
}

// One server event, from a skeleton with fuzzed fields.
std::string event(FuzzedDataProvider& in, Harness& h) {
    auto e = json::object();
    switch (in.ConsumeIntegralInRange(0, 8)) {
    case 0: {
        e->set("type", std::string("response.created"));
        auto response = json::object();
        response->set("id", PICK(in, kResponseIds));
        response->set("status", std::string("in_progress"));
        e->set("response", response);
        break;
    }
    case 1:
        e->set("type", std::string("response.output_item.done"));
        e->set("response_id", PICK(in, kResponseIds));
        e->set("item", functionCallItem(in));
        break;
    case 2: {
        e->set("type", std::string("response.function_call_arguments.done"));
        e->set("response_id", PICK(in, kResponseIds));
        auto item = functionCallItem(in);
        e->set("call_id", item->get("call_id"));
        e->set("name", item->get("name"));
        e->set("arguments", item->get("arguments"));
        break;
    }
    case 3: {
        e->set("type", std::string("response.done"));
        auto response = json::object();
        response->set("id", PICK(in, kResponseIds));
        response->set("status", PICK(in, kStatuses));
        Poco::JSON::Array::Ptr output = new Poco::JSON::Array;
        const int items = in.ConsumeIntegralInRange(0, 3);
        for (int i = 0; i < items; ++i)
            output->add(functionCallItem(in));
        response->set("output", output);
        e->set("response", response);
        break;
    }
    case 4: {
        e->set("type", std::string("error"));
        auto error = json::object();
        const auto code = PICK(in, kErrorCodes);
        error->set("code", code);
        error->set("message", utf8(in.ConsumeRandomLengthString(40)));
        e->set("error", error);
        if (code == "conversation_already_has_active_response") ++h.conflicts;
        break;
    }
    case 5:
        e->set("type", std::string("conversation.item.input_audio_transcription.completed"));
        e->set("transcript", utf8(in.ConsumeRandomLengthString(40)));
        break;
    case 6:
        e->set("type", std::string("response.output_audio_transcript.done"));
        e->set("transcript", utf8(in.ConsumeRandomLengthString(40)));
        break;
    case 7:
        e->set("type", in.ConsumeBool() ? std::string("session.created") : std::string("session.updated"));
        break;
    default:
        e->set("type", utf8(in.ConsumeRandomLengthString(32)));
        break;
    }
    return json::stringify(e);
}

// An error event saying our response.create was refused (a reason to send it again).
bool isConflict(const std::string& text) {
    const auto parsed = json::parse(text);
    if (parsed.isEmpty() || parsed.type() != typeid(Poco::JSON::Object::Ptr)) return false;
    const auto object = parsed.extract<Poco::JSON::Object::Ptr>();
    const auto error = object->getObject("error");
    return object->has("type") && object->get("type").isString() && object->getValue<std::string>("type") == "error" &&
           error && error->has("code") && error->get("code").isString() &&
           error->getValue<std::string>("code") == "conversation_already_has_active_response";
}

void checkFrames(const Harness& h) {
    std::set<std::string> outputsSent;
    std::size_t creates = 0;
    for (const auto& frame : h.sent) {
        FUZZ_CHECK(validUtf8(frame));
        Poco::JSON::Parser parser;
        Poco::Dynamic::Var value;
        try {
            value = parser.parse(frame);
        } catch (const std::exception&) {
            FUZZ_CHECK(!"a frame sent is not JSON");
        }
        FUZZ_CHECK(value.type() == typeid(Poco::JSON::Object::Ptr));
        const auto object = value.extract<Poco::JSON::Object::Ptr>();
        const auto type = object->optValue<std::string>("type", "");
        if (type == "response.create") {
            ++creates;
            continue;
        }
        FUZZ_CHECK(type == "conversation.item.create");
        const auto item = object->getObject("item");
        FUZZ_CHECK(item);
        FUZZ_CHECK(item->optValue<std::string>("type", "") == "function_call_output");
        FUZZ_CHECK(item->has("call_id") && item->get("call_id").isString());
        FUZZ_CHECK(item->has("output") && item->get("output").isString());
        const auto callId = item->getValue<std::string>("call_id");
        FUZZ_CHECK(!callId.empty());
        FUZZ_CHECK(outputsSent.insert(callId).second); // never two outputs for one call_id
        const auto output = item->getValue<std::string>("output");
        if (h.tools) {
            const auto given = h.tools->outputs.find(callId);
            FUZZ_CHECK(given != h.tools->outputs.end()); // only for a call a tool was invoked with
            FUZZ_CHECK(given->second == output);
        } else {
            FUZZ_CHECK(output == R"({"error":"no tools are available on this call"})");
        }
    }
    FUZZ_CHECK(creates <= outputsSent.size() + h.conflicts);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogging();
    registry();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    Harness h;
    h.call.callId = "rtc_fuzz";
    h.call.tenantId = "acme";
    h.call.instructions = {"You are Acme's assistant.", "Welcome to Acme!"};
    if (!in.ConsumeBool()) {
        h.tools = std::make_shared<ScriptedTools>();
        h.call.tools = h.tools;
    }
    h.call.actions = h.actions;
    h.store.failTranscripts = in.ConsumeBool();
    {
        sessions::RealtimeTurns turns(h.call, registry(), h.store, h.ended,
                                      {[&h](std::string text) { h.send(std::move(text)); }, nullptr});
        for (int steps = 0; steps < 256 && in.remaining_bytes() > 0; ++steps) {
            switch (in.ConsumeIntegralInRange(0, 15)) {
            case 0: { // a frame of any text
                const auto text = utf8(in.ConsumeRandomLengthString(512));
                if (isConflict(text)) ++h.conflicts;
                turns.handleEvent(text);
                break;
            }
            case 1: // how the next tool answers
                if (h.tools) {
                    h.tools->deferNext = in.ConsumeBool();
                    h.tools->nextOutput =
                        in.ConsumeBool() ? utf8(in.ConsumeRandomLengthString(64)) : PICK(in, kOutputs);
                }
                break;
            case 2: // a deferred tool answers
                if (h.tools && !h.tools->pending.empty()) {
                    const auto index = in.ConsumeIntegralInRange<std::size_t>(0, h.tools->pending.size() - 1);
                    auto [callId, done] = std::move(h.tools->pending[index]);
                    h.tools->pending.erase(h.tools->pending.begin() + static_cast<std::ptrdiff_t>(index));
                    done(h.tools->outputs[callId]);
                }
                break;
            case 3: // a tool transferred or hung up the call
                h.actions->ended = true;
                break;
            case 4: // the call ends (hang-up, close): nothing may be sent from now on
                h.ended = true;
                break;
            case 5:
                turns.greetingSent(json::stringify(openai::realtime::greeting(h.call.instructions)));
                break;
            default: {
                turns.handleEvent(event(in, h));
                break;
            }
            }
        }
        // Tools still running answer after the last event (or after the call ended).
        if (h.tools)
            while (!h.tools->pending.empty()) {
                auto [callId, done] = std::move(h.tools->pending.back());
                h.tools->pending.pop_back();
                done(h.tools->outputs[callId]);
            }
    }
    checkFrames(h);
    return 0;
}
