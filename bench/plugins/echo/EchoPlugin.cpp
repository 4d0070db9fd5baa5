// The benchmark's tenant plugin: `echo` returns its arguments at once, so a tool round trip measures
// the host (socket read, parse, tool pool hop, output write), not the plugin.
#include <sideband/sdk/Sdk.h>

using Poco::JSON::Object;
using namespace sideband::sdk;

class EchoPlugin : public Plugin {
public:
    std::vector<ToolDefinition> tools() const override {
        Object::Ptr text = new Object;
        text->set("type", "string");
        Object::Ptr properties = new Object;
        properties->set("text", text);
        Object::Ptr parameters = new Object;
        parameters->set("type", "object");
        parameters->set("properties", properties);
        return {{"echo", "Repeat the text back.", parameters}};
    }

    Object::Ptr callTool(CallContext&, const ToolCall& tool) override {
        Object::Ptr result = new Object;
        result->set("echo", tool.arguments().has("text") ? tool.arguments().getValue<std::string>("text") : "");
        return result;
    }
};

SIDEBAND_PLUGIN(EchoPlugin)
