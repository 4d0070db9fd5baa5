#pragma once

// Loads a built plugin `.so` through the host's own loader (same checks: build fingerprint, factory,
// tool list validation) and calls its tools the way the host does, synchronously:
//
//     sideband::sdk::testing::PluginHarness plugin(MY_PLUGIN_PATH);   // throws LoadError
//     sideband::sdk::testing::FakeCallContext call;
//     auto result = plugin.call(call, "find_slots", R"({"date":"2030-01-07"})");
//     EXPECT_EQ(result->getValue<std::string>("date"), "2030-01-07");

#include "sideband/sdk/Plugin.h"
#include "sideband/sdk/loader/PluginLibrary.h"

#include <Poco/JSON/Parser.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace sideband::sdk::testing {

class PluginHarness {
public:
    explicit PluginHarness(const std::string& pluginPath, const std::string& expectedSha256 = {})
        : loaded_(loader::loadPlugin(pluginPath, {expectedSha256, {}})) {}

    const std::vector<ToolDefinition>& tools() const { return loaded_.tools; }
    Plugin& plugin() { return *loaded_.plugin; }
    const loader::LoadedPlugin& loaded() const { return loaded_; }

    // The exact text the model would receive, and how the call ended (ok, error, bad_arguments...).
    // `callId` is ToolCall::callId(): pass the same one twice to test that a tool is idempotent.
    loader::ToolOutput invoke(CallContext& call, const std::string& toolName, const std::string& argumentsJson = "{}",
                              std::chrono::milliseconds timeout = std::chrono::seconds(10), std::string callId = {}) {
        auto arguments = loader::parseArguments(argumentsJson);
        if (!arguments)
            return {loader::errorOutput("arguments are not a JSON object"), loader::ToolOutcome::BadArguments};
        auto cancelled = std::make_shared<std::atomic<bool>>(false);
        ToolCall tool(toolName, arguments, ToolCall::Clock::now() + timeout, cancelled, std::move(callId));
        return loader::runTool(*loaded_.plugin, loaded_.tools, call, tool);
    }

    // The output parsed: the tool's result, or {"error": "..."}.
    Poco::JSON::Object::Ptr call(CallContext& call, const std::string& toolName,
                                 const std::string& argumentsJson = "{}", std::string callId = {}) {
        auto output = invoke(call, toolName, argumentsJson, std::chrono::seconds(10), std::move(callId));
        return Poco::JSON::Parser().parse(output.json).extract<Poco::JSON::Object::Ptr>();
    }

private:
    loader::LoadedPlugin loaded_;
};

} // namespace sideband::sdk::testing
