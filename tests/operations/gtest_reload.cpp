// SIGHUP with the real binary: the reload is logged and the host keeps serving; new calls use the
// plugin file as it is now, while a call in progress keeps the build it started with. Tenants are
// read from the store for every call, so a tenant change needs no signal at all.
#include "BinaryWithSimulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

constexpr const char* kReloadLine = "reloaded: new calls use the plugin files as they are now";

int countOf(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

class ReloadTest : public ::testing::Test {
protected:
    std::shared_ptr<simulator::SimulatedSession> call(const std::string& callId, const std::string& to = "+18005550123") {
        EXPECT_THAT(env_.incomingCall(callId, to).body, HasSubstr(R"("accepted":true)")) << env_.host().output();
        auto session = env_.simulator().waitForSession(callId, 15s);
        if (session) {
            EXPECT_TRUE(session->waitForEvent("session.update", 15s));
        }
        return session;
    }
    static std::string tool(simulator::SimulatedSession& session, const std::string& name) {
        return session.waitForFunctionOutput(session.sendFunctionCall(name, "{}"), 15s).value_or("");
    }
    // SIGHUP, then wait for the reload's log line (the n-th one).
    bool reload(int n) {
        env_.host().signal(SIGHUP);
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (countOf(env_.host().output(), kReloadLine) >= n) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }

    BinaryWithSimulator env_;
};

} // namespace

TEST_F(ReloadTest, SighupLogsTheReloadAndTheHostKeepsServing) {
    ASSERT_TRUE(env_.start()) << env_.host().output();
    for (int n = 1; n <= 3; ++n) {
        ASSERT_TRUE(reload(n)) << env_.host().output();
        EXPECT_EQ(env_.get("/readyz").status, 200);
    }
    EXPECT_THAT(env_.host().output(), HasSubstr("SIGHUP: reloading plugins"));
    env_.host().signal(SIGTERM);
    EXPECT_EQ(env_.host().wait(), 0) << env_.host().output();
}

TEST_F(ReloadTest, NewCallsUseTheRebuiltPluginWhileACallInProgressKeepsTheOld) {
    env_.installPlugin(SIDEBAND_PLUGIN_V1, "versioned.so");
    env_.addTenant("acme", "+18005550123", R"({"plugin":"versioned.so"})");
    ASSERT_TRUE(env_.start()) << env_.host().output();

    auto before = call("rtc_reload_old");
    ASSERT_TRUE(before);
    EXPECT_THAT(tool(*before, "version"), HasSubstr(R"("version":1)"));

    env_.installPlugin(SIDEBAND_PLUGIN_V2, "versioned.so");
    // Without a reload the host keeps the build it has.
    auto unreloaded = call("rtc_reload_cached");
    ASSERT_TRUE(unreloaded);
    EXPECT_THAT(tool(*unreloaded, "version"), HasSubstr(R"("version":1)"));

    ASSERT_TRUE(reload(1)) << env_.host().output();
    auto after = call("rtc_reload_new");
    ASSERT_TRUE(after);
    EXPECT_THAT(tool(*after, "version"), HasSubstr(R"("version":2)"));
    // The plugin decorated the new call's instructions with its own version too.
    const auto update = after->waitForEvent("session.update", 5s);
    ASSERT_TRUE(update);
    EXPECT_THAT(update->json, HasSubstr("[v2]"));

    EXPECT_THAT(tool(*before, "version"), HasSubstr(R"("version":1)")) << "a call keeps its build until it ends";
    EXPECT_TRUE(before->isConnected());

    // Tenants need no reload: a tenant added while the host runs takes calls at once.
    env_.addTenant("late", "+18005550199", R"({"plugin":"versioned.so"})");
    auto late = call("rtc_reload_late", "+18005550199");
    ASSERT_TRUE(late);
    EXPECT_THAT(tool(*late, "version"), HasSubstr(R"("version":2)"));

    env_.host().signal(SIGTERM);
    for (auto* session : {before.get(), unreloaded.get(), after.get(), late.get()}) session->hangup(true);
    EXPECT_EQ(env_.host().wait(), 0) << env_.host().output();
}
