// call-routing: lets the agent hand the caller to a person (transfer_to_human, to the tenant's
// "transfer_target") or end the call (end_call).
#include <sideband/sdk/Sdk.h>

namespace {

using Poco::JSON::Object;
using sideband::sdk::CallContext;
using sideband::sdk::ToolCall;
using sideband::sdk::ToolDefinition;

Object::Ptr schema(const std::string& reasonHelp) {
    Object::Ptr reason = new Object;
    reason->set("type", "string");
    reason->set("description", reasonHelp);
    Object::Ptr properties = new Object;
    properties->set("reason", reason);
    Object::Ptr parameters = new Object;
    parameters->set("type", "object");
    parameters->set("properties", properties);
    return parameters;
}

// plugin_config.transfer_target wins over a top-level transfer_target in the tenant config.
std::string transferTarget(const CallContext& call) {
    for (const Object* config : {&call.pluginConfig(), &call.tenantConfig()}) {
        if (config->has("transfer_target") && config->get("transfer_target").isString())
            return config->getValue<std::string>("transfer_target");
    }
    return {};
}

bool isCallableUri(const std::string& target) {
    return target.rfind("tel:", 0) == 0 || target.rfind("sip:", 0) == 0 || target.rfind("sips:", 0) == 0;
}

class CallRoutingPlugin : public sideband::sdk::Plugin {
public:
    std::vector<ToolDefinition> tools() const override {
        return {
            {"transfer_to_human",
             "Transfer the caller to a person at the business. Use when the caller asks for a human, or when you "
             "cannot help.",
             schema("Why the caller is being transferred, one sentence.")},
            {"end_call", "End the call after saying goodbye, once the caller has nothing more to ask.",
             schema("Why the call is ending.")},
        };
    }

    Object::Ptr callTool(CallContext& call, const ToolCall& tool) override {
        const std::string reason = tool.optionalString("reason");
        Object::Ptr result = new Object;
        if (tool.name() == "transfer_to_human") {
            const std::string target = transferTarget(call);
            // A business "no" the model can explain, rather than an error.
            if (target.empty() || !isCallableUri(target)) {
                call.log().warn("transfer_to_human: no valid transfer_target configured");
                result->set("transferred", false);
                result->set("message", "Transfers are not available right now; offer to take a message instead.");
                return result;
            }
            call.log().info("transferring to " + target + (reason.empty() ? "" : " (" + reason + ")"));
            call.actions().transfer(target);
            result->set("transferred", true);
            result->set("target", target);
            return result;
        }
        if (tool.name() == "end_call") {
            call.log().info("ending the call" + (reason.empty() ? "" : " (" + reason + ")"));
            call.actions().hangup();
            result->set("ended", true);
            return result;
        }
        throw std::invalid_argument("unknown tool '" + tool.name() + "'");
    }

    void decorateCall(CallContext& call, sideband::sdk::CallSetup& setup) override {
        if (!transferTarget(call).empty())
            setup.instructions += "\n\nIf the caller wants to speak to a person, call transfer_to_human.";
    }
};

} // namespace

SIDEBAND_PLUGIN(CallRoutingPlugin)
