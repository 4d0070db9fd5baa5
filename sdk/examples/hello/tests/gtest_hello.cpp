#include <gtest/gtest.h>
#include <sideband/sdk/testing/Mocks.h>
#include <sideband/sdk/testing/PluginHarness.h>

using namespace sideband::sdk::testing;

TEST(Hello, GreetsByName) {
    PluginHarness plugin(HELLO_PLUGIN); // the host's loader: fails here if the host would refuse it
    FakeCallContext call;               // ids, numbers, config, a RecordingLogger, MockCallActions
    auto result = plugin.call(call, "greet", R"({"name":"Ada"})");
    EXPECT_EQ(result->getValue<std::string>("greeting"), "Hello, Ada!");
}

TEST(Hello, RejectsAMissingName) {
    PluginHarness plugin(HELLO_PLUGIN);
    FakeCallContext call;
    auto output = plugin.invoke(call, "greet", "{}"); // exact text the model would get + outcome
    EXPECT_EQ(output.outcome, sideband::sdk::loader::ToolOutcome::BadArguments);
    EXPECT_EQ(output.json, R"({"error":"missing string argument 'name'"})");
}
