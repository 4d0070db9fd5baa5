// sdk::loader's tool outputs are JSON the host can read back, whatever a plugin throws (found by
// tests/fuzz/fuzz_plugin_tool_result: an exception message that is not UTF-8 made an output the
// host's JSON parser refuses, which a plugin runner's tool_result frame turns into a restart).
#include "isolation/RunnerProtocol.h"
#include "sideband/sdk/loader/PluginLibrary.h"

#include <Poco/JSON/Parser.h>

#include <gtest/gtest.h>

#include <stdexcept>

using namespace sideband;

namespace {

class ThrowingPlugin final : public sdk::Plugin {
public:
    explicit ThrowingPlugin(std::string message) : message_(std::move(message)) {}
    std::vector<sdk::ToolDefinition> tools() const override { return {}; }
    Poco::JSON::Object::Ptr callTool(sdk::CallContext&, const sdk::ToolCall&) override {
        throw std::runtime_error(message_);
    }

private:
    std::string message_;
};

class NoCall final : public sdk::CallContext {
public:
    const std::string& callId() const override { return empty_; }
    const std::string& tenantId() const override { return empty_; }
    const std::string& caller() const override { return empty_; }
    const std::string& dialed() const override { return empty_; }
    const Poco::JSON::Object& tenantConfig() const override { return config_; }
    const Poco::JSON::Object& pluginConfig() const override { return config_; }
    sdk::Logger& log() override { throw std::logic_error("unused"); }
    sdk::CallActions& actions() override { throw std::logic_error("unused"); }

private:
    std::string empty_;
    Poco::JSON::Object config_;
};

std::string errorOf(const std::string& output) {
    Poco::JSON::Parser parser;
    return parser.parse(output).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("error");
}

} // namespace

TEST(ToolOutput, AnErrorMessageThatIsNotUtf8BecomesJsonWithReplacementCharacters) {
    // Latin-1 "café", a lone continuation byte, a cut 3-byte sequence, an overlong '/', a surrogate.
    const std::string message = "caf\xE9 \x80 \xE2\x82 \xC0\xAF \xED\xA0\x80 ok \xC3\xA9";
    const auto output = sdk::loader::errorOutput(message);
    ASSERT_NO_THROW(errorOf(output)) << output;
    EXPECT_EQ(errorOf(output), "caf\xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD "
                               "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ok \xC3\xA9");
    EXPECT_EQ(sdk::loader::errorOutput("plain message"), R"({"error":"plain message"})");
}

TEST(ToolOutput, APluginExceptionThatIsNotUtf8StillCrossesTheRunnerProtocol) {
    ThrowingPlugin plugin("database error: r\xE9"
                          "servation impossible");
    NoCall call;
    const std::vector<sdk::ToolDefinition> tools{{"book", "Book", nullptr}};
    const sdk::ToolCall tool("book", nullptr, sdk::ToolCall::Clock::now(), nullptr);
    const auto output = sdk::loader::runTool(plugin, tools, call, tool);
    EXPECT_EQ(output.outcome, sdk::loader::ToolOutcome::Error);

    // The runner's reply, read back by the host.
    Poco::JSON::Object reply;
    reply.set("type", std::string("tool_result"));
    reply.set("id", 1);
    reply.set("output", output.json);
    auto frame = isolation::protocol::encode(reply);
    isolation::protocol::FrameReader reader;
    Poco::JSON::Object::Ptr read;
    ASSERT_NO_THROW(read = reader.next(frame));
    ASSERT_TRUE(read);
    EXPECT_EQ(read->getValue<std::string>("output"), output.json);
    EXPECT_EQ(errorOf(output.json), "database error: r\xEF\xBF\xBDservation impossible");
}
