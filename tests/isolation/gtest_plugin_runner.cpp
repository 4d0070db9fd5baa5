// Tenant isolation through the real runner: each tenant's plugin in its own sandboxed
// sideband-plugin-runner process, driven through IsolatingToolBuilder as the call pipeline drives
// it. Tenant A gets a deliberately broken plugin while tenant B's tools run; B never notices.
#include "Eventually.h"
#include "TestCertificates.h"
#include "isolation/IsolatingToolBuilder.h"
#include "metrics/SidebandMetrics.h"
#include "plugins/PluginToolBuilder.h"

#include <Poco/JSON/Parser.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <string_view>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace sideband;
using namespace std::chrono_literals;
using sideband::testing::eventually;
using sideband::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

namespace fs = std::filesystem;

// One tool call's output, waited for.
class Output {
public:
    plugins::CallTools::Done sink() {
        return [promise = promise_](const std::string& output) { promise->set_value(output); };
    }
    std::optional<std::string> get(std::chrono::milliseconds within = 10s) {
        if (future_.wait_for(within) != std::future_status::ready) return std::nullopt;
        return future_.get();
    }
    Poco::JSON::Object::Ptr json(std::chrono::milliseconds within = 10s) {
        auto text = get(within);
        if (!text) return nullptr;
        return Poco::JSON::Parser().parse(*text).extract<Poco::JSON::Object::Ptr>();
    }

private:
    std::shared_ptr<std::promise<std::string>> promise_ = std::make_shared<std::promise<std::string>>();
    std::shared_future<std::string> future_ = promise_->get_future().share();
};

class RecordingActions : public plugins::CallActions {
public:
    void transfer(const std::string& target) override {
        std::lock_guard lock(mutex_);
        transfers_.push_back(target);
    }
    void hangup() override {}
    std::vector<std::string> transfers() {
        std::lock_guard lock(mutex_);
        return transfers_;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> transfers_;
};

class PluginRunnerTest : public ::testing::Test {
protected:
    PluginRunnerTest() {
        metrics::declareSidebandMetrics(metrics_);
        fs::create_directories(pluginDir());
        for (const char* plugin : {"misbehaving_v1.so", "segfaults_in_tool.so", "aborts_at_load.so", "endless_loop.so",
                                   "memory_hog.so", "exits.so", "fork_loop.so", "reads_environ.so", "writes_outside.so",
                                   "slow_constructor.so", "wrong_abi.so"})
            fs::copy_file(fs::path(SIDEBAND_TEST_PLUGIN_DIR) / plugin, fs::path(pluginDir()) / plugin);
        for (const char* plugin : {"appointments.so", "call-routing.so"})
            fs::copy_file(fs::path(SIDEBAND_BUILD_PLUGIN_DIR) / plugin, fs::path(pluginDir()) / plugin);
        settings_.runnerPath = SIDEBAND_BUILD_PLUGIN_RUNNER;
        settings_.workRoot = dir_.file("state");
        settings_.startTimeout = 5000ms;
        settings_.startWait = 5000ms;
        settings_.stuckGrace = 300ms;
        settings_.backoffMin = 50ms;
    }
    ~PluginRunnerTest() override {
        if (builder_) builder_->stop();
    }

    std::string pluginDir() const { return dir_.file("plugins"); }

    isolation::IsolatingToolBuilder& builder() {
        if (!builder_) {
            inProcess_ = std::make_unique<plugins::PluginToolBuilder>(pluginDir(), metrics_, 4);
            builder_ = std::make_unique<isolation::IsolatingToolBuilder>(*inProcess_, settings_, true, metrics_);
        }
        return *builder_;
    }

public:
    static tenants::TenantConfig tenant(const std::string& id, const std::string& plugin,
                                        const std::string& settings = "{}") {
        tenants::TenantConfig config;
        config.tenantId = id;
        config.plugin = plugin;
        config.settings = Poco::JSON::Parser().parse(settings).extract<Poco::JSON::Object::Ptr>();
        return config;
    }

protected:
    std::shared_ptr<plugins::CallTools> call(const tenants::TenantConfig& config, const std::string& callId,
                                             std::shared_ptr<plugins::CallActions> actions = nullptr) {
        return builder().build(config, {callId, config.tenantId, "+14155550100", "+18005550123"},
                               actions ? std::move(actions) : std::make_shared<RecordingActions>());
    }

    double counted(const char* name, metrics::Labels labels) { return metrics_.value(name, labels); }

    TempDir dir_;
    metrics::MetricsRegistry metrics_;
    isolation::RunnerSettings settings_;
    std::unique_ptr<plugins::PluginToolBuilder> inProcess_;
    std::unique_ptr<isolation::IsolatingToolBuilder> builder_;
};

const auto kTenantB = PluginRunnerTest::tenant("tenant_b", "misbehaving_v1.so");

TEST_F(PluginRunnerTest, AToolRunsInTheTenantsOwnProcessAndAnswersExactlyAsInProcess) {
    auto tools = call(kTenantB, "rtc_b1");
    ASSERT_EQ(tools->tools().size(), 9u);
    Output out;
    tools->invoke({"echo", R"({"x":1})", "call_fn_1"}, out.sink());
    EXPECT_EQ(out.get(), std::optional<std::string>(R"({"arguments":{"x":1},"caller":"+14155550100","version":1})"));
    const auto runner = builder().runnerFor("tenant_b");
    ASSERT_TRUE(runner);
    EXPECT_GT(runner->pid(), 0);
    EXPECT_NE(runner->pid(), ::getpid());
    EXPECT_EQ(counted(metrics::name::kToolCalls, {{"tenant", "tenant_b"}, {"tool", "echo"}, {"outcome", "ok"}}), 1);
}

TEST_F(PluginRunnerTest, ASegfaultingToolGetsAnErrorOutputAndOnlyItsTenantsRunnerRestarts) {
    auto a = call(tenant("tenant_a", "segfaults_in_tool.so"), "rtc_a1");
    auto b = call(kTenantB, "rtc_b1");
    const pid_t bPid = builder().runnerFor("tenant_b")->pid();
    Output bSlow, aCrash;
    b->invoke({"slow", R"({"ms":300})", "call_b_slow"}, bSlow.sink());
    a->invoke({"crash", "{}", "call_a_crash"}, aCrash.sink());
    EXPECT_EQ(aCrash.get(), std::optional<std::string>(
                                R"({"error":"the tool's plugin stopped unexpectedly; the tool did not complete"})"));
    EXPECT_EQ(bSlow.get(), std::optional<std::string>(R"({"version":1})"));
    EXPECT_EQ(builder().runnerFor("tenant_b")->pid(), bPid);
    const auto aRunner = builder().runnerFor("tenant_a");
    EXPECT_TRUE(eventually([&] { return aRunner->state() == isolation::RunnerState::Ready; }));
    EXPECT_EQ(aRunner->restarts(), 1u);
#if defined(__SANITIZE_ADDRESS__)
    const char* reason = "exit_1"; // AddressSanitizer's SEGV handler reports, then exits 1
#else
    const char* reason = "signal_11";
#endif
    EXPECT_EQ(counted(metrics::name::kPluginRunnerRestarts, {{"tenant", "tenant_a"}, {"reason", reason}}), 1);
    // The call goes on: its next tool runs in the restarted runner.
    Output again;
    a->invoke({"ok", "{}", "call_a_ok"}, again.sink());
    EXPECT_EQ(again.get(), std::optional<std::string>(R"({"ok":true})"));
}

TEST_F(PluginRunnerTest, APluginThatAbortsWhileLoadingStaysFailedUntilItsFileChanges) {
    const auto a = tenant("tenant_a", "aborts_at_load.so");
    try {
        call(a, "rtc_a1");
        FAIL() << "built tools from a plugin that aborts at load";
    } catch (const isolation::RunnerUnavailable& e) {
        EXPECT_EQ(e.reason(), "crashed_at_load");
        EXPECT_THAT(e.what(), HasSubstr("stays failed until the file changes or the host reloads"));
    }
    EXPECT_THROW(call(a, "rtc_a2"), isolation::RunnerUnavailable);
    EXPECT_EQ(counted(metrics::name::kPluginLoadFailures, {{"tenant", "tenant_a"}, {"reason", "crashed_at_load"}}), 1)
        << "the second call did not start the runner again";
    // B is served throughout.
    Output b;
    call(kTenantB, "rtc_b1")->invoke({"version", "{}", "call_b"}, b.sink());
    EXPECT_EQ(b.get(), std::optional<std::string>(R"({"version":1})"));
    // A fixed build under the same name is picked up by the next call.
    fs::copy_file(fs::path(SIDEBAND_TEST_PLUGIN_DIR) / "segfaults_in_tool.so",
                  fs::path(pluginDir()) / "aborts_at_load.so", fs::copy_options::overwrite_existing);
    Output fixed;
    call(a, "rtc_a3")->invoke({"ok", "{}", "call_a"}, fixed.sink());
    EXPECT_EQ(fixed.get(), std::optional<std::string>(R"({"ok":true})"));
}

TEST_F(PluginRunnerTest, AnEndlessLoopTimesOutOnTimeAndItsRunnerIsReplaced) {
    auto a = call(tenant("tenant_a", "endless_loop.so", R"({"tool_timeout_ms":300})"), "rtc_a1");
    auto b = call(kTenantB, "rtc_b1");
    Output spin, bEcho;
    a->invoke({"spin", "{}", "call_spin"}, spin.sink());
    b->invoke({"version", "{}", "call_b"}, bEcho.sink());
    EXPECT_EQ(bEcho.get(), std::optional<std::string>(R"({"version":1})"));
    EXPECT_EQ(spin.get(), std::optional<std::string>(R"({"error":"tool timed out after 300 ms"})"));
    // The spinning worker cannot be stopped from outside: the runner ends itself and is replaced.
    const auto runner = builder().runnerFor("tenant_a");
    EXPECT_TRUE(eventually([&] { return runner->restarts() == 1u; }, 10s));
    EXPECT_EQ(counted(metrics::name::kPluginRunnerRestarts, {{"tenant", "tenant_a"}, {"reason", "exit_70"}}), 1);
    EXPECT_TRUE(eventually([&] { return runner->state() == isolation::RunnerState::Ready; }));
}

TEST_F(PluginRunnerTest, AMemoryHogIsStoppedByItsRunnersAddressSpaceLimit) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "sanitizer builds run the runner without an address-space limit";
#endif
    settings_.addressSpaceMb = 512;
    auto a = call(tenant("tenant_a", "memory_hog.so"), "rtc_a1");
    Output hog;
    a->invoke({"hog", "{}", "call_hog"}, hog.sink());
    const auto result = hog.json();
    ASSERT_TRUE(result);
    ASSERT_TRUE(result->has("allocated_mb")) << "the hog was refused memory, not killed";
    EXPECT_LT(result->getValue<int>("allocated_mb"), 512);
    Output b;
    call(kTenantB, "rtc_b1")->invoke({"version", "{}", "call_b"}, b.sink());
    EXPECT_EQ(b.get(), std::optional<std::string>(R"({"version":1})"));
}

TEST_F(PluginRunnerTest, APluginCallingExitIsRestartedAndTheHostGoesOn) {
    auto a = call(tenant("tenant_a", "exits.so"), "rtc_a1");
    Output exited;
    a->invoke({"exit", "{}", "call_exit"}, exited.sink());
    EXPECT_THAT(exited.get().value_or(""), HasSubstr("stopped unexpectedly"));
    EXPECT_TRUE(eventually([&] {
        return counted(metrics::name::kPluginRunnerRestarts, {{"tenant", "tenant_a"}, {"reason", "exit_0"}}) == 1;
    }));
}

TEST_F(PluginRunnerTest, APluginCannotFork) {
    Output forked;
    call(tenant("tenant_a", "fork_loop.so"), "rtc_a1")
        ->invoke({"fork", R"({"count":1000})", "call_fork"}, forked.sink());
    EXPECT_EQ(forked.get(), std::optional<std::string>(R"({"errno":1,"error":"Operation not permitted","forked":0})"));
}

TEST_F(PluginRunnerTest, APluginSeesNeitherTheHostsEnvironmentNorItsSecrets) {
    ::setenv("OPENAI_API_KEY", "sk-isolation-test-secret", 1);
    Output environ;
    call(tenant("tenant_a", "reads_environ.so"), "rtc_a1")
        ->invoke({"environ", R"({"pid":)" + std::to_string(::getpid()) + "}", "call_env"}, environ.sink());
    const auto text = environ.get().value_or("");
    EXPECT_THAT(text, Not(HasSubstr("sk-isolation-test-secret")));
    EXPECT_THAT(text, HasSubstr(R"(SIDEBAND_TENANT=tenant_a)"));
    EXPECT_THAT(text, HasSubstr(R"("other_error":)"));
    ::unsetenv("OPENAI_API_KEY");
}

TEST_F(PluginRunnerTest, APluginWritesInsideItsOwnDirectoryOnly) {
    auto a = call(tenant("tenant_a", "writes_outside.so"), "rtc_a1");
    const std::string outside = dir_.file("outside.txt");
    Output refused, inside;
    a->invoke({"write", R"({"path":")" + outside + R"("})", "call_out"}, refused.sink());
    EXPECT_EQ(refused.get(), std::optional<std::string>(R"({"error":"Permission denied","error_errno":13})"));
    EXPECT_FALSE(fs::exists(outside));
    a->invoke({"write", R"({"path":"notes.txt"})", "call_in"}, inside.sink());
    EXPECT_EQ(inside.get(), std::optional<std::string>(R"({"written":true})"));
    EXPECT_TRUE(fs::exists(settings_.workRoot + "/tenant_a/notes.txt"));
}

TEST_F(PluginRunnerTest, ASlowLoadingPluginDoesNotDelayAnotherTenantAndIsStoppedAtItsDeadline) {
    settings_.startTimeout = 1500ms;
    settings_.startWait = 200ms;
    builder().prestart({kTenantB});
    ASSERT_TRUE(eventually([&] {
        auto b = builder().runnerFor("tenant_b");
        return b && b->state() == isolation::RunnerState::Ready;
    }));
    const auto a = tenant("tenant_a", "slow_constructor.so");
    auto slow = std::async(std::launch::async, [&] {
        try {
            call(a, "rtc_a1");
            return std::string("built");
        } catch (const isolation::RunnerUnavailable& e) {
            return e.reason();
        }
    });
    Output b;
    call(kTenantB, "rtc_b1")->invoke({"version", "{}", "call_b"}, b.sink());
    EXPECT_EQ(b.get(), std::optional<std::string>(R"({"version":1})"));
    EXPECT_EQ(slow.get(), "not_ready");
    EXPECT_TRUE(eventually([&] { return builder().runnerFor("tenant_a")->state() == isolation::RunnerState::Failed; }));
    EXPECT_EQ(counted(metrics::name::kPluginLoadFailures, {{"tenant", "tenant_a"}, {"reason", "load_timeout"}}), 1);
}

namespace {

// For RunnerSettings::afterSpawnForTest: holds the runner's loop until a frame with `type` is queued
// on the host's end of the socket, as when a busy host opens the socket only after the runner has
// loaded. That frame is then read inside Stream::open().
std::function<void(int)> holdUntilQueued(const std::string& type) {
    return [marker = "\"type\":\"" + type + "\""](int fd) {
        std::string peeked(1 << 16, '\0');
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd readable{fd, POLLIN, 0};
            ::poll(&readable, 1, 100);
            const auto n = ::recv(fd, peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
            if (n > 0 && std::string_view(peeked.data(), std::size_t(n)).find(marker) != std::string_view::npos) return;
            std::this_thread::sleep_for(5ms); // earlier frames (log lines) are there; wait for this one
        }
        ADD_FAILURE() << "the runner never sent " << marker;
    };
}

} // namespace

TEST_F(PluginRunnerTest, ARunnerThatIsReadyBeforeItsSocketIsFirstReadStaysReady) {
    settings_.startTimeout = 1500ms;
    settings_.afterSpawnForTest = holdUntilQueued("ready");
    Output first;
    call(kTenantB, "rtc_b1")->invoke({"version", "{}", "call_b"}, first.sink());
    EXPECT_EQ(first.get(), std::optional<std::string>(R"({"version":1})"));
    // Past the load deadline: it was met, so nothing fails the runner afterwards.
    std::this_thread::sleep_for(settings_.startTimeout + 500ms);
    EXPECT_EQ(builder().runnerFor("tenant_b")->state(), isolation::RunnerState::Ready);
    Output second;
    call(kTenantB, "rtc_b2")->invoke({"version", "{}", "call_b2"}, second.sink());
    EXPECT_EQ(second.get(), std::optional<std::string>(R"({"version":1})"));
    EXPECT_EQ(counted(metrics::name::kPluginLoadFailures, {{"tenant", "tenant_b"}, {"reason", "load_timeout"}}), 0);
}

TEST_F(PluginRunnerTest, ALoadFailureReadBeforeItsSocketIsFirstReadFailsThePluginOnce) {
    // The runner is stopped and its socket released while that very socket is being opened.
    settings_.afterSpawnForTest = holdUntilQueued("load_failed");
    const auto a = tenant("tenant_a", "wrong_abi.so");
    try {
        call(a, "rtc_a1");
        FAIL() << "loaded a plugin built for another ABI";
    } catch (const isolation::RunnerUnavailable& e) {
        EXPECT_EQ(e.reason(), "abi_mismatch");
    }
    EXPECT_EQ(builder().runnerFor("tenant_a")->state(), isolation::RunnerState::Failed);
    EXPECT_EQ(counted(metrics::name::kPluginLoadFailures, {{"tenant", "tenant_a"}, {"reason", "abi_mismatch"}}), 1);
    EXPECT_EQ(counted(metrics::name::kPluginLoadFailures, {{"tenant", "tenant_a"}, {"reason", "load_timeout"}}), 0);
}

TEST_F(PluginRunnerTest, AFingerprintMismatchFailsOnlyThatTenantAndSaysWhatDiffers) {
    try {
        call(tenant("tenant_a", "wrong_abi.so"), "rtc_a1");
        FAIL() << "loaded a plugin built for another ABI";
    } catch (const isolation::RunnerUnavailable& e) {
        EXPECT_EQ(e.reason(), "abi_mismatch");
        EXPECT_THAT(e.what(), HasSubstr("poco="));
    }
    Output b;
    call(kTenantB, "rtc_b1")->invoke({"version", "{}", "call_b"}, b.sink());
    EXPECT_EQ(b.get(), std::optional<std::string>(R"({"version":1})"));
}

TEST_F(PluginRunnerTest, ATransferFromAnIsolatedPluginIsCarriedOutByTheHost) {
    auto actions = std::make_shared<RecordingActions>();
    auto tools =
        call(tenant("tenant_a", "call-routing.so", R"({"transfer_target":"tel:+15550001111"})"), "rtc_a1", actions);
    Output transfer;
    tools->invoke({"transfer_to_human", R"({"reason":"asked for a person"})", "call_tr"}, transfer.sink());
    ASSERT_TRUE(transfer.get());
    EXPECT_EQ(actions->transfers(), std::vector<std::string>{"tel:+15550001111"});
}

TEST_F(PluginRunnerTest, ARetriedBookingUnderTheSameCallIdReturnsTheFirstBooking) {
    auto tools = call(tenant("tenant_a", "appointments.so"), "rtc_a1");
    const std::string args = R"({"slot_id":"2030-01-07T09:00","name":"Ada","phone":"+15550100"})";
    Output first, retried;
    tools->invoke({"book_appointment", args, "call_book_1"}, first.sink());
    tools->invoke({"book_appointment", args, "call_book_1"}, retried.sink());
    const auto once = first.get();
    ASSERT_TRUE(once);
    EXPECT_THAT(*once, Not(HasSubstr("error")));
    EXPECT_EQ(retried.get(), once);
}

TEST_F(PluginRunnerTest, AReloadServesNewCallsFromANewRunnerAndStopsTheOldOneWhenItsCallsEnd) {
    auto before = call(kTenantB, "rtc_b1");
    const auto old = builder().runnerFor("tenant_b");
    const pid_t oldPid = old->pid();
    builder().reloadAll();
    auto after = call(kTenantB, "rtc_b2");
    const auto fresh = builder().runnerFor("tenant_b");
    EXPECT_NE(fresh->pid(), oldPid);
    Output stillServed;
    before->invoke({"version", "{}", "call_old"}, stillServed.sink());
    EXPECT_EQ(stillServed.get(), std::optional<std::string>(R"({"version":1})"));
    before.reset(); // the old build's last call ends
    EXPECT_TRUE(eventually([&] { return old->state() == isolation::RunnerState::Stopped; }));
    EXPECT_NE(::kill(oldPid, 0), 0) << "the retired runner was reaped";
}

} // namespace

namespace {

TEST_F(PluginRunnerTest, AnIsolatedTenantsToolCallsBeyondItsWorkersAndQueueAreRefusedAtOnce) {
    settings_.toolThreads = 1;
    settings_.toolQueue = 1;
    auto tools = call(kTenantB, "rtc_b1");
    Output running, queued, refused;
    tools->invoke({"slow", R"({"ms":1500})", "call_1"}, running.sink());
    tools->invoke({"slow", R"({"ms":10})", "call_2"}, queued.sink());
    tools->invoke({"slow", R"({"ms":10})", "call_3"}, refused.sink());
    EXPECT_TRUE(eventually([&] {
        const auto load = builder().load(); // sideband_tool_busy / sideband_tool_queued
        return load.size() == 1 && load[0].tenant == "tenant_b" && load[0].running == 1 && load[0].queued == 1;
    }));
    EXPECT_EQ(refused.get(),
              std::optional<std::string>(R"({"error":"tool queue full for this tenant; try again shortly"})"));
    EXPECT_EQ(running.get(), std::optional<std::string>(R"({"version":1})"));
    EXPECT_EQ(queued.get(), std::optional<std::string>(R"({"version":1})"));
    EXPECT_EQ(counted(metrics::name::kToolRefused, {{"tenant", "tenant_b"}}), 1);
    EXPECT_EQ(counted(metrics::name::kToolCalls, {{"tenant", "tenant_b"}, {"tool", "slow"}, {"outcome", "refused"}}),
              1);
}

} // namespace
