#include "openai/RealtimeEvents.h"

#include "core/Json.h"

namespace sideband::openai::realtime {
namespace {

std::string text(const Poco::JSON::Object::Ptr& object, const std::string& key, const std::string& fallback) {
    if (!object || !object->has(key) || !object->get(key).isString()) return fallback;
    return object->getValue<std::string>(key);
}

// Session fields shared by accept and session.update: instructions and function tools.
void addSessionFields(Poco::JSON::Object& session, const calls::AcceptedCall& call) {
    session.set("instructions", call.instructions.prompt);
    if (!call.tools) return;
    Poco::JSON::Array::Ptr tools = new Poco::JSON::Array;
    for (const auto& spec : call.tools->tools()) {
        auto tool = json::object();
        tool->set("type", "function");
        tool->set("name", spec.name);
        tool->set("description", spec.description);
        tool->set("parameters", spec.parameters ? spec.parameters : json::object());
        tools->add(tool);
    }
    if (tools->size() > 0) {
        session.set("tools", tools);
        session.set("tool_choice", "auto");
    }
}

Poco::JSON::Object::Ptr event(const char* type) {
    auto event = json::object();
    event->set("type", type);
    return event;
}

} // namespace

std::string acceptBody(const calls::AcceptedCall& call, const std::string& defaultModel) {
    auto body = json::object();
    body->set("type", "realtime");
    body->set("model", text(call.config.settings, "model", defaultModel));
    addSessionFields(*body, call);
    const auto voice = text(call.config.settings, "voice", "");
    if (!voice.empty()) {
        auto output = json::object();
        output->set("voice", voice);
        auto audio = json::object();
        audio->set("output", output);
        body->set("audio", audio);
    }
    return json::stringify(body);
}

Poco::JSON::Object::Ptr sessionUpdate(const calls::AcceptedCall& call) {
    auto session = json::object();
    session->set("type", "realtime");
    addSessionFields(*session, call);
    auto update = event("session.update");
    update->set("session", session);
    return update;
}

Poco::JSON::Object::Ptr greeting(const tenants::Instructions& instructions) {
    // A response's instructions replace the session's for that response: without the tenant's
    // prompt the first words would lose its persona, language and rules.
    auto response = json::object();
    response->set("instructions", instructions.prompt + "\n\nStart the call now: greet the caller with \"" +
                                      instructions.greeting + "\"");
    auto create = event("response.create");
    create->set("response", response);
    return create;
}

Poco::JSON::Object::Ptr functionCallOutput(const std::string& functionCallId, const std::string& output) {
    auto item = json::object();
    item->set("type", "function_call_output");
    item->set("call_id", functionCallId);
    item->set("output", output);
    auto create = event("conversation.item.create");
    create->set("item", item);
    return create;
}

Poco::JSON::Object::Ptr responseCreate() { return event("response.create"); }

} // namespace sideband::openai::realtime
