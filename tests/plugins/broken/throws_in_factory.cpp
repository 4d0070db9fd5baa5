// Broken on purpose: the plugin's constructor throws, so the factory does.
#include <sideband/sdk/Sdk.h>

struct ThrowingPlugin : sideband::sdk::Plugin {
    ThrowingPlugin() { throw std::runtime_error("database credentials missing"); }
    std::vector<sideband::sdk::ToolDefinition> tools() const override { return {}; }
    Poco::JSON::Object::Ptr callTool(sideband::sdk::CallContext&, const sideband::sdk::ToolCall&) override {
        return nullptr;
    }
};

SIDEBAND_PLUGIN(ThrowingPlugin)
