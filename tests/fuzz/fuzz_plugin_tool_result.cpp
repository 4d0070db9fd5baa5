// libFuzzer target: what a plugin hands back, on its two ways to the model.
//   In process: sdk::loader::runTool (the code the host and the plugin runner both call) with a fake
//   Plugin whose callTool returns the fuzzed JSON parsed into a Poco object, an object holding
//   fuzzed bytes as a string, a number from fuzzed bits (NaN, infinities), null, or throws
//   (std::invalid_argument, std::runtime_error, a non-standard exception).
//   Over the isolation protocol: isolation::protocol::FrameReader (host/isolation/RunnerProtocol.h),
//   the host's reader of the runner's frames, on fuzzed bytes arriving in fuzzed chunks, and the
//   field helpers PluginRunner reads a tool_result with.
//
// Input: byte 0 picks the path and the plugin's behaviour; the rest is the plugin's JSON text or the
// runner's bytes.
//
// Properties (abort when violated):
//   - runTool never throws; its output is always the text of a JSON object, valid UTF-8 (and so
//     it survives the runner's tool_result frame to the host: FrameReader reads it back); outcome Ok
//     only for an object result, and then the output is that object's JSON; every other outcome's
//     output is exactly {"error":"<string>"}; an unknown tool is UnknownTool, a thrown
//     std::invalid_argument BadArguments;
//   - FrameReader::next returns whole frames only: the 4-byte big-endian length it consumed never
//     exceeds kMaxFrameBytes nor runs past the buffer; an announced length over kMaxFrameBytes
//     throws ProtocolError at once; anything it throws is ProtocolError; a frame it returns encodes
//     back (encode) to a frame it reads to the same object; the field helpers throw nothing but
//     std::exceptions (PluginRunner::onData catches those and restarts the runner).
// Allocation: bounded for every target by tools/fuzz.sh's -malloc_limit_mb (docs/fuzzing.md).
#include "FuzzSupport.h"

#include "isolation/RunnerProtocol.h"
#include "sideband/sdk/loader/PluginLibrary.h"

#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>

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

std::string condense(const Poco::Dynamic::Var& value) {
    std::ostringstream out;
    Poco::JSON::Stringifier::condense(value, out);
    return out.str();
}

Poco::JSON::Object::Ptr parseObject(const std::string& text) {
    try {
        Poco::JSON::Parser parser;
        auto value = parser.parse(text);
        if (value.type() == typeid(Poco::JSON::Object::Ptr)) return value.extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception&) {
    }
    return nullptr;
}

enum class Behaviour { ParsedJson, StringOfBytes, Number, Null, ThrowInvalidArgument, ThrowRuntime, ThrowOther };

class FakePlugin final : public sdk::Plugin {
public:
    Behaviour behaviour = Behaviour::ParsedJson;
    std::string text;
    Poco::JSON::Object::Ptr returned; // what callTool returned, to compare

    std::vector<sdk::ToolDefinition> tools() const override { return {}; }
    Poco::JSON::Object::Ptr callTool(sdk::CallContext&, const sdk::ToolCall&) override {
        switch (behaviour) {
        case Behaviour::ParsedJson: {
            Poco::JSON::Parser parser;
            auto value = parser.parse(text); // a plugin's own parse error is an exception the host contains
            if (value.type() == typeid(Poco::JSON::Object::Ptr))
                return returned = value.extract<Poco::JSON::Object::Ptr>();
            Poco::JSON::Object::Ptr wrapped = new Poco::JSON::Object; // an array or a scalar, in an object
            wrapped->set("result", value);
            return returned = wrapped;
        }
        case Behaviour::StringOfBytes:
            returned = new Poco::JSON::Object;
            returned->set("text", text); // bytes a plugin read from somewhere: not necessarily UTF-8
            return returned;
        case Behaviour::Number: {
            double number = 0;
            std::memcpy(&number, text.data(), std::min(sizeof number, text.size()));
            returned = new Poco::JSON::Object;
            returned->set("value", number); // NaN and infinities have no JSON form
            return returned;
        }
        case Behaviour::Null:
            return nullptr;
        case Behaviour::ThrowInvalidArgument:
            throw std::invalid_argument(text);
        case Behaviour::ThrowRuntime:
            throw std::runtime_error(text);
        case Behaviour::ThrowOther:
            throw 42;
        }
        return nullptr;
    }
};

class NullLogger final : public sdk::Logger {
public:
    void debug(const std::string&) override {}
    void info(const std::string&) override {}
    void warn(const std::string&) override {}
    void error(const std::string&) override {}
};

class NullActions final : public sdk::CallActions {
public:
    void transfer(const std::string&) override {}
    void hangup() override {}
};

class FakeCall final : public sdk::CallContext {
public:
    const std::string& callId() const override { return id_; }
    const std::string& tenantId() const override { return tenant_; }
    const std::string& caller() const override { return caller_; }
    const std::string& dialed() const override { return dialed_; }
    const Poco::JSON::Object& tenantConfig() const override { return config_; }
    const Poco::JSON::Object& pluginConfig() const override { return config_; }
    sdk::Logger& log() override { return logger_; }
    sdk::CallActions& actions() override { return actions_; }

private:
    std::string id_ = "rtc_fuzz";
    std::string tenant_ = "acme";
    std::string caller_ = "+15551230000";
    std::string dialed_ = "+15559870000";
    Poco::JSON::Object config_;
    NullLogger logger_;
    NullActions actions_;
};

void runToolPath(std::uint8_t mode, const std::string& text) {
    static const std::vector<sdk::ToolDefinition> kTools{{"lookup_order", "Look up an order", nullptr}};
    FakePlugin plugin;
    plugin.behaviour = static_cast<Behaviour>(mode % 7);
    plugin.text = text;
    FakeCall call;
    const bool known = (mode & 0x08) == 0;
    sdk::ToolCall tool(known ? "lookup_order" : "book_slot", nullptr, sdk::ToolCall::Clock::now(), nullptr, "call_1");

    sdk::loader::ToolOutput output;
    try {
        output = sdk::loader::runTool(plugin, kTools, call, tool);
    } catch (...) {
        FUZZ_CHECK(!"runTool threw");
    }

    FUZZ_CHECK(validUtf8(output.json));
    const auto object = parseObject(output.json);
    FUZZ_CHECK(object); // always a JSON object
    if (!known) FUZZ_CHECK(output.outcome == sdk::loader::ToolOutcome::UnknownTool);
    if (known && plugin.behaviour == Behaviour::ThrowInvalidArgument)
        FUZZ_CHECK(output.outcome == sdk::loader::ToolOutcome::BadArguments);
    if (output.outcome == sdk::loader::ToolOutcome::Ok) {
        FUZZ_CHECK(known && plugin.returned);
        FUZZ_CHECK(output.json == condense(plugin.returned)); // the plugin's result, unchanged
    } else {
        FUZZ_CHECK(object->size() == 1 && object->has("error") && object->get("error").isString());
        FUZZ_CHECK(output.json == sdk::loader::errorOutput(object->getValue<std::string>("error")));
    }

    // Isolated, the runner sends this output in a tool_result frame (RunnerMain's reply): the host
    // reads it back whole, or it would take the runner for broken and restart it.
    namespace protocol = isolation::protocol;
    Poco::JSON::Object reply;
    reply.set("type", std::string("tool_result"));
    reply.set("id", 7);
    reply.set("output", output.json);
    reply.set("outcome", std::string(sdk::loader::outcomeName(output.outcome)));
    std::string frame = protocol::encode(reply);
    protocol::FrameReader reader;
    Poco::JSON::Object::Ptr read;
    try {
        read = reader.next(frame);
    } catch (const protocol::ProtocolError&) {
        FUZZ_CHECK(!"the host cannot read the runner's tool_result frame");
    }
    FUZZ_CHECK(read && protocol::optionalString(*read, "output") == output.json);
}

std::uint32_t announced(const std::string& buffer, std::size_t at) {
    const auto* p = reinterpret_cast<const unsigned char*>(buffer.data() + at);
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

// The runner's bytes arrive in chunks; after each, PluginRunner::onData takes every whole frame.
void framePath(std::uint8_t mode, const std::string& bytes) {
    namespace protocol = isolation::protocol;
    protocol::FrameReader reader;
    std::string buffer;
    std::size_t at = 0; // where the next frame starts in `buffer` (the reader's offset, kept by us)
    std::uint32_t state = 0x2545F491u ^ mode;
    for (std::size_t fed = 0; fed < bytes.size();) {
        state = state * 1664525u + 1013904223u;
        const std::size_t chunk = (mode & 0x10) ? bytes.size() : 1 + (state >> 8) % 300;
        buffer.append(bytes, fed, chunk);
        fed += std::min(chunk, bytes.size() - fed);
        try {
            for (;;) {
                const bool whole = buffer.size() - at >= 4;
                const bool tooLarge = whole && announced(buffer, at) > protocol::kMaxFrameBytes;
                auto message = reader.next(buffer);
                FUZZ_CHECK(!tooLarge); // an oversized announcement throws at once
                if (!message) break;
                FUZZ_CHECK(whole);
                const auto size = announced(buffer, at);
                FUZZ_CHECK(size <= protocol::kMaxFrameBytes);
                FUZZ_CHECK(at + 4 + size <= buffer.size()); // never past what arrived
                at += 4 + size;

                // What PluginRunner reads from a frame: only std::exceptions escape.
                try {
                    (void)protocol::optionalString(*message, "type");
                    (void)protocol::optionalString(*message, "output");
                    (void)protocol::optionalString(*message, "outcome");
                    (void)protocol::requireString(*message, "type");
                    (void)protocol::requireInt(*message, "id");
                } catch (const std::exception&) {
                }

                // A frame read is one that encodes back to itself.
                std::string again;
                try {
                    again = protocol::encode(*message);
                } catch (const protocol::ProtocolError&) {
                    continue; // re-encoded larger than a frame may be (escapes): refused, never sent
                }
                protocol::FrameReader second;
                auto copy = second.next(again);
                FUZZ_CHECK(copy);
                FUZZ_CHECK(condense(copy) == condense(message));
            }
            if (mode & 0x20) {
                reader.compact(buffer);
                at = 0;
            }
        } catch (const protocol::ProtocolError&) {
            return; // the runner is restarted; nothing more is read from it
        } catch (...) {
            FUZZ_CHECK(!"FrameReader threw something other than ProtocolError");
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogging();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (mode & 0x80)
        framePath(mode, rest);
    else
        runToolPath(mode, rest);
    return 0;
}
