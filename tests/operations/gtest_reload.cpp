// SIGHUP with the real binary: the reload is logged and the host keeps serving; new calls use the
// plugin file as it is now, while a call in progress keeps the build it started with. Tenants are
// cached for SIDEBAND_TENANT_CACHE_MS; SIGHUP drops that cache too.
#include "BinaryWithSimulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

constexpr const char* kReloadLine = "reloaded: new calls use the plugin files and tenants as they are now";

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

    // A number the host has not looked up yet is read from the store: it takes calls at once.
    env_.addTenant("late", "+18005550199", R"({"plugin":"versioned.so"})");
    auto late = call("rtc_reload_late", "+18005550199");
    ASSERT_TRUE(late);
    EXPECT_THAT(tool(*late, "version"), HasSubstr(R"("version":2)"));

    env_.host().signal(SIGTERM);
    for (auto* session : {before.get(), unreloaded.get(), after.get(), late.get()}) session->hangup(true);
    EXPECT_EQ(env_.host().wait(), 0) << env_.host().output();
}

TEST_F(ReloadTest, ATenantAddedByAnotherProcessReachesARememberedNumberAfterSighup) {
    env_.env()["SIDEBAND_TENANT_CACHE_MS"] = "600000"; // the TTL cannot expire during the test
    ASSERT_TRUE(env_.start()) << env_.host().output();
    const std::string number = "+18005550177";
    EXPECT_EQ(env_.incomingCall("rtc_unknown_1", number).body, R"({"ok":true,"rejected":"tenant_resolve_failed"})");

    env_.addTenant("late", number, "{}"); // written to the database file, as `tenants import` does
    EXPECT_EQ(env_.incomingCall("rtc_unknown_2", number).body, R"({"ok":true,"rejected":"tenant_resolve_failed"})")
        << "the host remembers the number's missing tenant until the cache is dropped";

    ASSERT_TRUE(reload(1)) << env_.host().output();
    EXPECT_THAT(env_.incomingCall("rtc_known", number).body, HasSubstr(R"("accepted":true,"tenant_id":"late")"));
    env_.host().signal(SIGTERM);
    if (auto session = env_.simulator().waitForSession("rtc_known", 15s)) session->hangup(true);
    EXPECT_EQ(env_.host().wait(), 0) << env_.host().output();
}
