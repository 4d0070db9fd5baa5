// Whole calls through the real host with plugin isolation on (the default): tenant A's plugin is
// deliberately broken while tenant B has a call with a tool running. Every time, B's call gets its
// tool's right answer, A's call gets an error output (or is served without tools), the host never
// restarts and /readyz stays 200.
#include "HostWithSimulator.h"
#include "TestHttpClient.h"

#include "metrics/SidebandMetrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

struct BrokenCase {
    const char* name;
    const char* plugin;
    const char* tool;      // the function call tenant A's caller triggers
    const char* arguments; // its arguments ({pid} is replaced by the host's pid)
    const char* expected;  // a fragment of A's function output
    bool loads = true;     // false: A's call is accepted without tools
    int toolTimeoutMs = 5000;
};

std::string replacePid(std::string text) {
    const auto at = text.find("{pid}");
    if (at != std::string::npos) text.replace(at, 5, std::to_string(::getpid()));
    return text;
}

class IsolatedCallsTest : public ::testing::TestWithParam<BrokenCase> {
protected:
    IsolatedCallsTest()
        : env_([](Settings& s) {
              s.pluginDir = SIDEBAND_TEST_PLUGIN_DIR;
              s.pluginStartTimeoutMs = 2000;
          }) {
        env_.addTenant("tenant_b", "+18005550102", R"({"plugin":"misbehaving_v1.so"})");
        env_.addTenant("tenant_a", "+18005550101",
                       std::string(R"({"plugin":")") + GetParam().plugin + R"(","tool_timeout_ms":)" +
                           std::to_string(GetParam().toolTimeoutMs) + "}");
    }

    std::shared_ptr<simulator::SimulatedSession> placeCall(const std::string& callId, const std::string& to) {
        const auto answer = env_.incomingCall(callId, to);
        EXPECT_THAT(answer.body, HasSubstr(R"("accepted":true)"));
        auto session = env_.simulator().waitForSession(callId, 10000ms);
        if (session) {
            EXPECT_TRUE(session->waitForEvent("session.update", 10000ms));
        }
        return session;
    }

    int readyz() {
        TestHttpClient client("localhost", env_.host().port(), TestCertificates::shared().caFile());
        return client.get("/readyz").status;
    }

    HostWithSimulator env_;
};

TEST_P(IsolatedCallsTest, AnotherTenantsCallKeepsItsToolsAndTheHostStaysReady) {
    const auto& broken = GetParam();
    auto b = placeCall("rtc_b", "+18005550102");
    ASSERT_TRUE(b);
    auto a = placeCall("rtc_a", "+18005550101");
    ASSERT_TRUE(a);

    // B's tool is running while A's plugin misbehaves.
    const auto bCall = b->sendFunctionCall("slow", R"({"ms":400})");
    const auto aCall = a->sendFunctionCall(broken.tool, replacePid(broken.arguments));

    const auto aOutput = a->waitForFunctionOutput(aCall, 15000ms);
    ASSERT_TRUE(aOutput);
    EXPECT_THAT(*aOutput, HasSubstr(broken.loads ? broken.expected : "no tools are available on this call"));
    EXPECT_THAT(*aOutput, Not(HasSubstr(HostWithSimulator::kApiKey)));
    EXPECT_EQ(b->waitForFunctionOutput(bCall, 15000ms), std::optional<std::string>(R"({"version":1})"));

    // B's next tool call is served as well, and both calls are still up.
    const auto bAgain = b->sendFunctionCall("echo", R"({"n":2})");
    EXPECT_THAT(b->waitForFunctionOutput(bAgain, 10000ms).value_or(""), HasSubstr(R"("arguments":{"n":2})"));
    EXPECT_TRUE(b->isConnected());
    EXPECT_TRUE(a->isConnected());
    EXPECT_EQ(readyz(), 200);
    EXPECT_TRUE(env_.host().ready());
}

const BrokenCase kCases[] = {
    {"SegfaultInATool", "segfaults_in_tool.so", "crash", "{}", "stopped unexpectedly"},
    {"AbortAtLoad", "aborts_at_load.so", "ok", "{}", "", false},
    {"EndlessLoop", "endless_loop.so", "spin", "{}", R"({"error":"tool timed out after 500 ms"})", true, 500},
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) // no address-space limit under sanitizers
    {"MemoryHog", "memory_hog.so", "hog", "{}", R"("allocated_mb":)"},
#endif
    {"ExitZero", "exits.so", "exit", "{}", "stopped unexpectedly"},
    {"ForkLoop", "fork_loop.so", "fork", R"({"count":1000})", R"("forked":0)"},
    {"ReadsTheHostsEnvironment", "reads_environ.so", "environ", R"({"pid":{pid}})", R"("other_error":)"},
    {"WritesOutsideItsDirectory", "writes_outside.so", "write", R"({"path":"/tmp/sideband-isolation-test-{pid}"})",
     R"("error_errno":13)"},
    {"ConstructorSleeps30Seconds", "slow_constructor.so", "ok", "{}", "", false},
};

INSTANTIATE_TEST_SUITE_P(BrokenPlugins, IsolatedCallsTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

} // namespace
