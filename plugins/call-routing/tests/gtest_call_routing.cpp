// Tests of call-routing.so, loaded through the SDK's harness (the host's loader) and driven with the
// SDK's mocks - the way a tenant tests a plugin.
#include <sideband/sdk/testing/Mocks.h>
#include <sideband/sdk/testing/PluginHarness.h>

#include <gtest/gtest.h>

using namespace sideband::sdk;
using namespace sideband::sdk::testing;
using ::testing::NiceMock;
using ::testing::ReturnRef;
using ::testing::Throw;

namespace {

class CallRouting : public ::testing::Test {
protected:
    PluginHarness plugin{CALL_ROUTING_PLUGIN};
    FakeCallContext call;
};

TEST_F(CallRouting, OffersTransferAndEndCallWithObjectSchemas) {
    ASSERT_EQ(plugin.tools().size(), 2u);
    EXPECT_EQ(plugin.tools()[0].name, "transfer_to_human");
    EXPECT_EQ(plugin.tools()[1].name, "end_call");
    EXPECT_EQ(plugin.tools()[0].parameters->getValue<std::string>("type"), "object");
}

TEST_F(CallRouting, TransfersToTheTenantsConfiguredTarget) {
    call.setPluginConfig(R"({"transfer_target":"tel:+15550100"})");
    EXPECT_CALL(call.mockActions, transfer("tel:+15550100"));
    auto result = plugin.call(call, "transfer_to_human", R"({"reason":"wants a person"})");
    EXPECT_TRUE(result->getValue<bool>("transferred"));
    EXPECT_EQ(result->getValue<std::string>("target"), "tel:+15550100");
}

TEST_F(CallRouting, FallsBackToTopLevelTransferTarget) {
    call.setTenantConfig(R"({"transfer_target":"sip:frontdesk@pbx.example.com"})");
    EXPECT_CALL(call.mockActions, transfer("sip:frontdesk@pbx.example.com"));
    EXPECT_TRUE(plugin.call(call, "transfer_to_human")->getValue<bool>("transferred"));
}

TEST_F(CallRouting, ExplainsInsteadOfTransferringWithoutATarget) {
    EXPECT_CALL(call.mockActions, transfer).Times(0);
    auto result = plugin.call(call, "transfer_to_human");
    EXPECT_FALSE(result->getValue<bool>("transferred"));
    EXPECT_TRUE(result->has("message"));
}

TEST_F(CallRouting, RefusesATargetThatIsNotATelOrSipUri) {
    call.setPluginConfig(R"({"transfer_target":"https://example.com"})");
    EXPECT_CALL(call.mockActions, transfer).Times(0);
    EXPECT_FALSE(plugin.call(call, "transfer_to_human")->getValue<bool>("transferred"));
}

TEST_F(CallRouting, EndCallHangsUp) {
    EXPECT_CALL(call.mockActions, hangup());
    EXPECT_TRUE(plugin.call(call, "end_call", R"({"reason":"done"})")->getValue<bool>("ended"));
}

TEST_F(CallRouting, AFailedTransferBecomesAnErrorForTheModel) {
    call.setPluginConfig(R"({"transfer_target":"tel:+15550100"})");
    EXPECT_CALL(call.mockActions, transfer).WillOnce(Throw(std::runtime_error("refer rejected: 486")));
    auto output = plugin.invoke(call, "transfer_to_human");
    EXPECT_EQ(output.outcome, loader::ToolOutcome::Error);
    EXPECT_EQ(output.json, R"({"error":"refer rejected: 486"})");
}

TEST_F(CallRouting, RejectsANonStringReason) {
    auto output = plugin.invoke(call, "end_call", R"({"reason":42})");
    EXPECT_EQ(output.outcome, loader::ToolOutcome::BadArguments);
}

TEST_F(CallRouting, WorksWithAMockedCallContext) {
    NiceMock<MockCallContext> context;
    NiceMock<MockCallActions> actions;
    NiceMock<MockLogger> logger;
    Poco::JSON::Object config, pluginConfig;
    pluginConfig.set("transfer_target", "tel:+15550199");
    ON_CALL(context, tenantConfig()).WillByDefault(ReturnRef(config));
    ON_CALL(context, pluginConfig()).WillByDefault(ReturnRef(pluginConfig));
    ON_CALL(context, actions()).WillByDefault(ReturnRef(actions));
    ON_CALL(context, log()).WillByDefault(ReturnRef(logger));
    EXPECT_CALL(actions, transfer("tel:+15550199"));
    EXPECT_CALL(logger, info(::testing::HasSubstr("tel:+15550199")));
    EXPECT_EQ(plugin.invoke(context, "transfer_to_human").outcome, loader::ToolOutcome::Ok);
}

TEST_F(CallRouting, MentionsTransfersInTheInstructionsWhenATargetIsSet) {
    call.setPluginConfig(R"({"transfer_target":"tel:+15550100"})");
    CallSetup setup{"You are the front desk.", "Hello"};
    plugin.plugin().decorateCall(call, setup);
    EXPECT_NE(setup.instructions.find("transfer_to_human"), std::string::npos);
    EXPECT_EQ(setup.greeting, "Hello");
}

} // namespace
