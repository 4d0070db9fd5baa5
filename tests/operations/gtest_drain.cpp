// SIGTERM drain: readiness goes false at once, new calls are rejected as `capacity` (SIP 486), a
// call in progress keeps its socket and its tools until it ends (then the drain finishes early) or
// until the deadline (then it is closed with reason `shutdown` and its slot released), and the
// process exits 0. In-process (Host::drain) and with the real binary (SIGTERM).
//
// No assertion depends on the machine being fast: deadlines are generous and only orderings
// ("not before") and states are checked.
#include "BinaryWithSimulator.h"
#include "HostWithSimulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <future>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

constexpr const char* kTenantConfig = R"({"plugin":"tools.so"})";

std::string tempPluginDir() {
    static TempDir dir;
    static const bool installed = [] {
        boost::filesystem::copy_file(SIDEBAND_PLUGIN_V1, dir.file("tools.so"),
                                     boost::filesystem::copy_options::overwrite_existing);
        return true;
    }();
    (void)installed;
    return dir.path();
}

// A tool call made by the simulated model; returns the host's output (empty on timeout).
std::string toolRoundTrip(simulator::SimulatedSession& session, const std::string& tool) {
    const auto id = session.sendFunctionCall(tool, "{}");
    return session.waitForFunctionOutput(id, 15s).value_or("");
}

class InProcessDrainTest : public ::testing::Test {
protected:
    InProcessDrainTest() : env_([](Settings& s) { s.pluginDir = tempPluginDir(); }) {}

    void SetUp() override { env_.addTenant("acme", "+18005550123", kTenantConfig); }

    // A call accepted, its sideband session open and configured.
    std::shared_ptr<simulator::SimulatedSession> callInProgress(const std::string& callId) {
        const auto answer = env_.incomingCall(callId);
        EXPECT_THAT(answer.body, HasSubstr(R"("accepted":true)"));
        auto session = env_.simulator().waitForSession(callId, 15s);
        if (session) {
            EXPECT_TRUE(session->waitForEvent("session.update", 15s));
        }
        EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().active == 1; }, 15s));
        return session;
    }

    HttpResult readyz() {
        return TestHttpClient("127.0.0.1", env_.host().port(), TestCertificates::shared().caFile()).get("/readyz");
    }

    HostWithSimulator env_;
};

} // namespace

TEST_F(InProcessDrainTest, CallInProgressRunsOnAndTheDrainEndsWhenItEnds) {
    auto session = callInProgress("rtc_drain_live");
    ASSERT_TRUE(session);
    ASSERT_EQ(readyz().status, 200);

    auto drained = std::async(std::launch::async, [this] { return env_.host().drain(120s); });

    // At once: not ready, and new calls are turned away as busy.
    EXPECT_TRUE(eventually([&] { return !env_.host().ready(); }, 10s));
    const auto ready = readyz();
    EXPECT_EQ(ready.status, 503);
    EXPECT_EQ(ready.body, R"({"status":"not_ready"})");
    const auto refused = env_.incomingCall("rtc_drain_new");
    EXPECT_EQ(refused.status, 200);
    EXPECT_EQ(refused.body, R"({"ok":true,"rejected":"capacity"})");
    const auto reject = env_.simulator().waitForRestRequest("rtc_drain_new", "reject", 10s);
    ASSERT_TRUE(reject);
    EXPECT_EQ(reject->body, R"({"status_code":486})");
    EXPECT_EQ(env_.host().store().findCall("rtc_drain_new")->rejectReason, "capacity");

    // The call in progress is not cut: its socket is open and a tool still round-trips.
    EXPECT_TRUE(session->isConnected());
    EXPECT_THAT(toolRoundTrip(*session, "version"), HasSubstr(R"("version":1)"));
    EXPECT_TRUE(session->isConnected());
    EXPECT_FALSE(session->closeInfo().closed);
    EXPECT_EQ(drained.wait_for(0s), std::future_status::timeout) << "the drain must wait for the call";
    EXPECT_EQ(env_.host().ledger().total().active, 1);

    // The caller hangs up: the drain finishes long before its deadline, with nothing left open.
    session->hangup(/*closeFrame=*/true);
    ASSERT_EQ(drained.wait_for(60s), std::future_status::ready);
    EXPECT_EQ(drained.get(), 0u);
    // The session is gone when the drain returns; its worker releases the slot a moment later (and
    // stop() joins that worker, so the process never exits before it).
    EXPECT_TRUE(eventually([&] { return env_.host().ledger().total().inUse() == 0; }));
    EXPECT_EQ(session->closeInfo().initiator, "simulator");
    env_.host().stop();
}

TEST_F(InProcessDrainTest, AtTheDeadlineTheCallIsClosedWithReasonShutdownAndItsSlotReleased) {
    auto session = callInProgress("rtc_drain_stuck");
    ASSERT_TRUE(session);

    const auto started = std::chrono::steady_clock::now();
    const auto left = env_.host().drain(1500ms);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 1500ms) << "returned before the deadline";
    EXPECT_EQ(left, 1u);
    // Up to the deadline the call was left alone.
    EXPECT_TRUE(session->isConnected());
    EXPECT_FALSE(session->closeInfo().closed);

    env_.host().stop(); // what HostApplication does next
    ASSERT_TRUE(session->waitForClose(15s));
    // The host sends its close frame, then the REST hangup on another connection; which of the two
    // the simulator acts on first is a race between its own threads (ASan runs saw both).
    EXPECT_THAT(session->closeInfo().initiator, ::testing::AnyOf("host", "rest"));
    EXPECT_EQ(env_.host().ledger().total().inUse(), 0);
    EXPECT_EQ(env_.host().sessions().activeSessions(), 0u);
    EXPECT_TRUE(eventually([&] {
        const auto record = env_.host().store().findCall("rtc_drain_stuck");
        return record && record->endReason == "shutdown";
    }));
}

namespace {

class BinaryDrainTest : public ::testing::Test {
protected:
    void SetUp() override {
        env_.installPlugin(SIDEBAND_PLUGIN_V1, "tools.so");
        env_.addTenant("acme", "+18005550123", kTenantConfig);
    }

    std::shared_ptr<simulator::SimulatedSession> callInProgress(const std::string& callId) {
        EXPECT_THAT(env_.incomingCall(callId).body, HasSubstr(R"("accepted":true)"));
        auto session = env_.simulator().waitForSession(callId, 15s);
        if (session) {
            EXPECT_TRUE(session->waitForEvent("session.update", 15s));
        }
        return session;
    }

    BinaryWithSimulator env_;
};

} // namespace

TEST_F(BinaryDrainTest, SigtermDrainsTheCallInProgressThenExitsZeroWhenItEnds) {
    env_.env()["SIDEBAND_DRAIN_TIMEOUT_S"] = "120"; // never reached: the call ends first
    ASSERT_TRUE(env_.start()) << env_.host().output();
    auto session = callInProgress("rtc_bin_live");
    ASSERT_TRUE(session) << env_.host().output();

    env_.host().signal(SIGTERM);
    ASSERT_TRUE(env_.waitForLog("draining: 1 call(s) in progress")) << env_.host().output();
    // Readiness is false from the moment the drain began; liveness stays.
    EXPECT_EQ(env_.get("/readyz").status, 503);
    EXPECT_EQ(env_.get("/healthz").status, 200);

    const auto refused = env_.incomingCall("rtc_bin_new");
    EXPECT_EQ(refused.body, R"({"ok":true,"rejected":"capacity"})");
    const auto reject = env_.simulator().waitForRestRequest("rtc_bin_new", "reject", 10s);
    ASSERT_TRUE(reject);
    EXPECT_EQ(reject->body, R"({"status_code":486})");

    EXPECT_THAT(toolRoundTrip(*session, "version"), HasSubstr(R"("version":1)"));
    EXPECT_TRUE(session->isConnected());
    EXPECT_EQ(env_.get("/healthz").status, 200) << "the process must still be serving the call";
    EXPECT_EQ(env_.host().output().find("stopped"), std::string::npos);

    session->hangup(/*closeFrame=*/true);
    EXPECT_EQ(env_.host().wait(), 0) << env_.host().output();
    const auto log = env_.host().output();
    EXPECT_THAT(log, HasSubstr("call=rtc_bin_new tenant=acme rejected: capacity (SIP 486)"));
    EXPECT_THAT(log, Not(HasSubstr("drain deadline passed")));
    EXPECT_THAT(log, HasSubstr("stopped"));
    EXPECT_EQ(session->closeInfo().initiator, "simulator");
}

TEST_F(BinaryDrainTest, SigtermWithACallThatNeverEndsExitsZeroAtTheDeadline) {
    env_.env()["SIDEBAND_DRAIN_TIMEOUT_S"] = "2";
    ASSERT_TRUE(env_.start()) << env_.host().output();
    auto session = callInProgress("rtc_bin_stuck");
    ASSERT_TRUE(session) << env_.host().output();

    const auto signalled = std::chrono::steady_clock::now();
    env_.host().signal(SIGTERM);
    ASSERT_TRUE(session->waitForClose(60s)) << env_.host().output();
    EXPECT_GE(std::chrono::steady_clock::now() - signalled, 2s) << "the call was cut before the deadline";
    // The host ends it both ways: its close frame, then the REST hangup on another connection. Which
    // of the two the simulator acts on first is a race between the simulator's own threads.
    EXPECT_THAT(session->closeInfo().initiator, ::testing::AnyOf("host", "rest"));
    EXPECT_TRUE(env_.simulator().waitForRestRequest("rtc_bin_stuck", "hangup", 10s));
    EXPECT_EQ(env_.host().wait(), 0) << env_.host().output();

    const auto log = env_.host().output();
    EXPECT_THAT(log, HasSubstr("drain deadline passed with 1 call(s) in progress"));
    EXPECT_THAT(log, HasSubstr("call=rtc_bin_stuck tenant=acme ended (shutdown)"));
    // Recorded in the store: the slot was released with reason shutdown.
    const auto record = tenants::openTenantStore(env_.env()["SIDEBAND_DB"])->findCall("rtc_bin_stuck");
    ASSERT_TRUE(record);
    EXPECT_EQ(record->endReason, "shutdown");
}
