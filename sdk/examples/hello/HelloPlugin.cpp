#include <sideband/sdk/Sdk.h>

using Poco::JSON::Object;
using namespace sideband::sdk;

class HelloPlugin : public Plugin {
public:
    std::vector<ToolDefinition> tools() const override {
        Object::Ptr name = new Object;
        name->set("type", "string");
        Object::Ptr properties = new Object;
        properties->set("name", name);
        Object::Ptr parameters = new Object;
        parameters->set("type", "object");
        parameters->set("properties", properties);
        return {{"greet", "Greet the caller by name.", parameters}};
    }

    Object::Ptr callTool(CallContext& call, const ToolCall& tool) override {
        const std::string name = tool.requireString("name"); // throws std::invalid_argument
        call.log().info("greeting " + name);
        Object::Ptr result = new Object;
        result->set("greeting", "Hello, " + name + "!");
        return result;
    }
};

SIDEBAND_PLUGIN(HelloPlugin)
