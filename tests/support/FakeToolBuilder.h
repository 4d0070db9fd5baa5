#pragma once

#include "core/Json.h"
#include "plugins/CallTools.h"

#include <memory>
#include <string>
#include <vector>

namespace sideband::testing {

// One tool, find_slots, answering "{}" at once.
class FakeTools : public plugins::CallTools {
public:
    std::vector<plugins::ToolSpec> tools() const override {
        auto schema = json::object();
        schema->set("type", "object");
        return {{"find_slots", "Find free slots", schema}};
    }
    using CallTools::invoke;
    void invoke(const plugins::ToolInvocation&, Done done) override { done("{}"); }
};

// Builds FakeTools for every call (or fails as a broken plugin would), recording whom for.
class FakeToolBuilder : public plugins::ToolBuilder {
public:
    bool fail = false;
    std::vector<std::string> builtFor; // call ids, in order
    std::shared_ptr<plugins::CallTools> build(const tenants::TenantConfig&, const plugins::CallInfo& call,
                                              std::shared_ptr<plugins::CallActions>) override {
        if (fail) throw plugins::ToolBuildError("plugin broken.so: factory symbol missing");
        builtFor.push_back(call.callId);
        return std::make_shared<FakeTools>();
    }
};

} // namespace sideband::testing
