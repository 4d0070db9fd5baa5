#pragma once

// Shared by the broken test plugins: a plugin offering named tools with free-form arguments, plus a
// harmless "ok" tool ({"ok":true}) so a test can check the plugin still answers between failures.
#include <sideband/sdk/Sdk.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace broken {

using Poco::JSON::Object;
using Tool = std::function<Object::Ptr(const sideband::sdk::ToolCall&)>;

class BrokenPlugin : public sideband::sdk::Plugin {
public:
    explicit BrokenPlugin(std::map<std::string, Tool> tools) : tools_(std::move(tools)) {
        tools_["ok"] = [](const sideband::sdk::ToolCall&) {
            Object::Ptr result = new Object;
            result->set("ok", true);
            return result;
        };
    }
    std::vector<sideband::sdk::ToolDefinition> tools() const override {
        std::vector<sideband::sdk::ToolDefinition> list;
        for (const auto& entry : tools_) {
            Object::Ptr parameters = new Object;
            parameters->set("type", "object");
            list.push_back({entry.first, "test tool " + entry.first, parameters});
        }
        return list;
    }
    Object::Ptr callTool(sideband::sdk::CallContext&, const sideband::sdk::ToolCall& tool) override {
        return tools_.at(tool.name())(tool);
    }

private:
    std::map<std::string, Tool> tools_;
};

} // namespace broken
