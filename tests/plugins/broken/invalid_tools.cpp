// Broken on purpose: an invalid tool list, chosen at compile time (INVALID_TOOLS_KIND):
// 1 duplicate names, 2 a parameters schema that is not an object schema, 3 tools() throws.
#include <sideband/sdk/Sdk.h>

using Poco::JSON::Object;

struct InvalidToolsPlugin : sideband::sdk::Plugin {
    std::vector<sideband::sdk::ToolDefinition> tools() const override {
        Object::Ptr ok = new Object;
        ok->set("type", "object");
        Object::Ptr notObject = new Object;
        notObject->set("type", "string");
#if INVALID_TOOLS_KIND == 1
        return {{"lookup", "first", ok}, { "lookup", "second", ok }};
#elif INVALID_TOOLS_KIND == 2
        return {{ "lookup", "takes a string?", notObject }};
#else
        throw std::runtime_error("tool registry not initialised");
#endif
    }
    Poco::JSON::Object::Ptr callTool(sideband::sdk::CallContext&, const sideband::sdk::ToolCall&) override {
        return nullptr;
    }
};

SIDEBAND_PLUGIN(InvalidToolsPlugin)
