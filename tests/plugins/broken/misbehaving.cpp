// Test plugin whose tools misbehave on request, built twice (PLUGIN_VERSION 1 and 2) for reload tests.
//   echo {..}            returns its arguments and the plugin version
//   version              {"version": PLUGIN_VERSION}
//   slow {"ms": N}       sleeps N ms, then {"version": PLUGIN_VERSION}
//   hang {"ms": N}       sleeps N ms ignoring cancellation (default 1500), then a result
//   cooperative          waits until cancelled, then returns
//   throws               throws std::runtime_error
//   throws_int           throws an int
//   no_result            returns null
//   not_json             returns a result holding NaN
// Hooks append a line to plugin_config.hook_log (if set); decorateCall throws when the prompt is "throw".
#include <sideband/sdk/Sdk.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <thread>

using Poco::JSON::Object;
using namespace sideband::sdk;

namespace {

Object::Ptr anyObject() {
    Object::Ptr s = new Object;
    s->set("type", "object");
    return s;
}

void sleepMs(long ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

struct MisbehavingPlugin : Plugin {
    std::vector<ToolDefinition> tools() const override {
        std::vector<ToolDefinition> list;
        for (const char* name :
             {"echo", "version", "slow", "hang", "cooperative", "throws", "throws_int", "no_result", "not_json"})
            list.push_back({name, std::string("test tool ") + name, anyObject()});
        return list;
    }

    Object::Ptr callTool(CallContext& call, const ToolCall& tool) override {
        Object::Ptr result = new Object;
        result->set("version", PLUGIN_VERSION);
        const auto& name = tool.name();
        if (name == "echo") {
            Object::Ptr args = new Object(tool.arguments());
            result->set("arguments", args);
            result->set("caller", call.caller());
        } else if (name == "slow") {
            sleepMs(tool.arguments().optValue<int>("ms", 300));
        } else if (name == "hang") {
            sleepMs(tool.arguments().optValue<int>("ms", 1500));
        } else if (name == "cooperative") {
            while (!tool.cancelled())
                sleepMs(5);
            record(call, "cooperative saw cancellation");
        } else if (name == "throws") {
            throw std::runtime_error("the backend said no");
        } else if (name == "throws_int") {
            throw 42;
        } else if (name == "no_result") {
            return nullptr;
        } else if (name == "not_json") {
            result->set("value", std::nan(""));
        }
        return result;
    }

    void decorateCall(CallContext&, CallSetup& setup) override {
        if (setup.instructions == "throw") throw std::runtime_error("cannot decorate");
        setup.instructions += " [v" + std::to_string(PLUGIN_VERSION) + "]";
        setup.greeting = "Hello from version " + std::to_string(PLUGIN_VERSION);
    }
    void onCallStarted(CallContext& call) override { record(call, "started"); }
    void onTranscript(CallContext& call, const TranscriptLine& line) override {
        sleepMs(2); // makes reordering visible if hooks of one call ever ran concurrently
        record(call, line.speaker + ": " + line.text);
    }
    void onCallEnded(CallContext& call, const std::string& reason) override { record(call, "ended " + reason); }

    void record(CallContext& call, const std::string& line) {
        auto path = call.pluginConfig().optValue<std::string>("hook_log", "");
        if (path.empty()) return;
        std::lock_guard lock(mutex_);
        std::ofstream(path, std::ios::app) << line << "\n";
    }
    std::mutex mutex_;
};

} // namespace

SIDEBAND_PLUGIN(MisbehavingPlugin)
