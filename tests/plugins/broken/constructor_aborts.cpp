// Broken on purpose: aborts as soon as it is dlopen'ed. Loading it with a wrong SHA-256 pin must not
// crash: the pin is checked before dlopen.
#include <sideband/sdk/Sdk.h>

#include <cstdlib>

__attribute__((constructor)) static void abortOnLoad() {
    std::abort();
}

struct NeverLoaded : sideband::sdk::Plugin {
    std::vector<sideband::sdk::ToolDefinition> tools() const override { return {}; }
    Poco::JSON::Object::Ptr callTool(sideband::sdk::CallContext&, const sideband::sdk::ToolCall&) override {
        return nullptr;
    }
};

SIDEBAND_PLUGIN(NeverLoaded)
