// PluginToolBuilder end to end with real plugins: tool results, errors, deadlines, metrics, hooks,
// reload while a call is in flight, and the shipped call-routing plugin acting on the call. Hook
// deadlines use an in-process plugin whose hooks hang.
#include "Eventually.h"
#include "Gate.h"
#include "TestPlugins.h"
#include "metrics/SidebandMetrics.h"
#include "plugins/PluginCallTools.h"
#include "plugins/PluginToolBuilder.h"

#include <Poco/JSON/Parser.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <dirent.h>
#include <mutex>
#include <thread>

using namespace sideband;
using namespace sideband::plugins;
using namespace sideband::plugins::testing;
using namespace std::chrono_literals;
namespace name = sideband::metrics::name;
using sideband::testing::eventually;
using sideband::testing::Gate;

namespace {

class Outputs {
public:
    std::function<void(const std::string&)> sink() {
        return [this](const std::string& output) {
            std::lock_guard lock(mutex_);
            outputs_.push_back(output);
            changed_.notify_all();
        };
    }
    bool waitFor(std::size_t n, std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return outputs_.size() >= n; });
    }
    std::vector<std::string> all() {
        std::lock_guard lock(mutex_);
        return outputs_;
    }
    std::string first() { return waitFor(1) ? all().front() : "(nothing delivered)"; }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> outputs_;
};

class RecordingActions : public CallActions {
public:
    void transfer(const std::string& target) override { transfers.push_back(target); }
    void hangup() override { ++hangups; }
    std::vector<std::string> transfers;
    int hangups = 0;
};

Poco::JSON::Object::Ptr parse(const std::string& json) {
    return Poco::JSON::Parser().parse(json).extract<Poco::JSON::Object::Ptr>();
}

std::size_t threadCount() {
    std::size_t n = 0;
    if (DIR* d = opendir("/proc/self/task")) {
        while (auto* e = readdir(d))
            n += e->d_name[0] != '.';
        closedir(d);
    }
    return n;
}

class PluginToolBuilderTest : public ::testing::Test {
protected:
    PluginToolBuilderTest() { metrics::declareSidebandMetrics(registry); }

    tenants::TenantConfig tenant(const std::string& plugin, const std::string& settingsJson = "{}") {
        tenants::TenantConfig config;
        config.tenantId = "acme";
        config.plugin = plugin;
        config.settings = parse(settingsJson);
        return config;
    }
    CallInfo call(const std::string& id = "rtc_1") { return {id, "acme", "+15550001111", "+15550002222"}; }
    std::shared_ptr<CallTools> build(const std::string& plugin, const std::string& settingsJson = "{}") {
        return builder.build(tenant(plugin, settingsJson), call(), actions);
    }
    double toolCalls(const std::string& tool, const std::string& outcome) {
        return registry.value(name::kToolCalls, {{"tenant", "acme"}, {"tool", tool}, {"outcome", outcome}});
    }

    TempDir dir;
    metrics::MetricsRegistry registry;
    std::shared_ptr<RecordingActions> actions = std::make_shared<RecordingActions>();
    PluginToolBuilder builder{dir.path(), registry, 4};
};

TEST_F(PluginToolBuilderTest, BuildsTheCallsToolSpecsFromThePlugin) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    auto tools = build("tools.so")->tools();
    ASSERT_EQ(tools.size(), 9u);
    EXPECT_EQ(tools[0].name, "echo");
    EXPECT_EQ(tools[0].description, "test tool echo");
    EXPECT_EQ(tools[0].parameters->getValue<std::string>("type"), "object");
}

TEST_F(PluginToolBuilderTest, GivesATenantWithoutAPluginNoTools) {
    auto tools = build("");
    EXPECT_TRUE(tools->tools().empty());
    Outputs out;
    tools->invoke("anything", "{}", out.sink());
    EXPECT_EQ(out.first(), R"({"error":"unknown tool 'anything'"})");
}

TEST_F(PluginToolBuilderTest, ReportsALoadFailureAsToolBuildErrorAndCountsItsReason) {
    dir.install(testPlugin("wrong_abi"), "old.so");
    try {
        build("old.so");
        FAIL() << "built";
    } catch (const ToolBuildError& e) {
        EXPECT_NE(std::string(e.what()).find("acme"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("old.so"), std::string::npos);
    }
    EXPECT_THROW(build("missing.so"), PluginLoadError);
    EXPECT_EQ(registry.value(name::kPluginLoadFailures, {{"tenant", "acme"}, {"reason", "abi_mismatch"}}), 1);
    EXPECT_EQ(registry.value(name::kPluginLoadFailures, {{"tenant", "acme"}, {"reason", "file_missing"}}), 1);
}

TEST_F(PluginToolBuilderTest, DeliversAToolsResultAndCountsIt) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    Outputs out;
    build("tools.so")->invoke("echo", R"({"x":1})", out.sink());
    auto result = parse(out.first());
    EXPECT_EQ(result->getObject("arguments")->getValue<int>("x"), 1);
    EXPECT_EQ(result->getValue<std::string>("caller"), "+15550001111");
    EXPECT_EQ(toolCalls("echo", "ok"), 1);
    EXPECT_EQ(registry.observations(name::kToolSeconds, {{"tenant", "acme"}, {"tool", "echo"}}), 1u);
}

TEST_F(PluginToolBuilderTest, TurnsExceptionsAndInvalidOutputIntoErrorsForTheModel) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    auto tools = build("tools.so");
    Outputs thrown, thrownInt, none, notJson, badArgs, unknown;
    tools->invoke("throws", "{}", thrown.sink());
    tools->invoke("throws_int", "{}", thrownInt.sink());
    tools->invoke("no_result", "{}", none.sink());
    tools->invoke("not_json", "{}", notJson.sink());
    tools->invoke("echo", "{not json", badArgs.sink());
    tools->invoke("rm_rf", "{}", unknown.sink());
    EXPECT_EQ(thrown.first(), R"({"error":"the backend said no"})");
    EXPECT_EQ(thrownInt.first(), R"({"error":"tool 'throws_int' failed"})");
    EXPECT_EQ(none.first(), R"({"error":"tool 'no_result' returned no result"})");
    EXPECT_EQ(notJson.first(), R"({"error":"tool 'not_json' returned a result that is not valid JSON"})");
    EXPECT_EQ(badArgs.first(), R"({"error":"arguments for 'echo' are not a JSON object"})");
    EXPECT_EQ(unknown.first(), R"({"error":"unknown tool 'rm_rf'"})");
    EXPECT_EQ(toolCalls("throws", "error"), 1);
    EXPECT_EQ(toolCalls("throws_int", "error"), 1);
    EXPECT_EQ(toolCalls("no_result", "invalid_output"), 1);
    EXPECT_EQ(toolCalls("not_json", "invalid_output"), 1);
    EXPECT_EQ(toolCalls("echo", "bad_arguments"), 1);
    EXPECT_EQ(toolCalls("unknown", "unknown_tool"), 1);
}

TEST_F(PluginToolBuilderTest, AHangingToolTimesOutAtTheTenantsDeadlineExactlyOnce) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    Outputs out;
    const auto start = std::chrono::steady_clock::now();
    build("tools.so", R"({"tool_timeout_ms":200})")->invoke("hang", R"({"ms":1500})", out.sink());
    EXPECT_EQ(out.first(), R"({"error":"tool timed out after 200 ms"})");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1200ms); // well before the tool returns
    std::this_thread::sleep_for(1600ms);                         // the tool returns late; its result must be dropped
    EXPECT_EQ(out.all().size(), 1u);
    EXPECT_EQ(toolCalls("hang", "timeout"), 1);
    EXPECT_EQ(toolCalls("hang", "ok"), 0);
}

TEST_F(PluginToolBuilderTest, ACooperativeToolSeesCancellationAndFreesItsWorker) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    const std::string log = dir.file("hooks.log");
    PluginToolBuilder single(dir.path(), registry, 1);
    auto tools =
        single.build(tenant("tools.so", R"({"tool_timeout_ms":100,"plugin_config":{"hook_log":")" + log + R"("}})"),
                     call(), actions);
    Outputs cooperative, next;
    tools->invoke("cooperative", "{}", cooperative.sink());
    EXPECT_EQ(cooperative.first(), R"({"error":"tool timed out after 100 ms"})");
    tools->invoke("version", "{}", next.sink()); // only one worker: it must have been given back
    EXPECT_EQ(parse(next.first())->getValue<int>("version"), 1);
    EXPECT_EQ(readFile(log), "cooperative saw cancellation\n");
}

TEST_F(PluginToolBuilderTest, ReadsTheToolDeadlineFromTenantSettings) {
    EXPECT_EQ(PluginToolBuilder::toolTimeout(tenant("", "{}")), 10000ms);
    EXPECT_EQ(PluginToolBuilder::toolTimeout(tenant("", R"({"tool_timeout_ms":2500})")), 2500ms);
    EXPECT_EQ(PluginToolBuilder::toolTimeout(tenant("", R"({"tool_timeout_ms":"soon"})")), 10000ms);
    EXPECT_EQ(PluginToolBuilder::toolTimeout(tenant("", R"({"tool_timeout_ms":-5})")), 10000ms);
}

TEST_F(PluginToolBuilderTest, ReloadSwapsTheBuildForNewCallsWhileAnInFlightCallFinishesOnTheOld) {
    dir.install(testPlugin("misbehaving_v1"), "versioned.so");
    auto callA = builder.build(tenant("versioned.so"), call("rtc_a"), actions);
    Outputs inFlight;
    callA->invoke("slow", R"({"ms":600})", inFlight.sink());
    std::this_thread::sleep_for(100ms); // the v1 tool is running now

    dir.install(testPlugin("misbehaving_v2"), "versioned.so");
    builder.reloadAll();
    auto callB = builder.build(tenant("versioned.so"), call("rtc_b"), actions);
    Outputs newCall, oldCallAgain;
    callB->invoke("version", "{}", newCall.sink());
    EXPECT_EQ(parse(newCall.first())->getValue<int>("version"), 2);

    EXPECT_EQ(parse(inFlight.first())->getValue<int>("version"), 1) << "the in-flight call completes on v1";
    callA->invoke("version", "{}", oldCallAgain.sink());
    EXPECT_EQ(parse(oldCallAgain.first())->getValue<int>("version"), 1) << "a call keeps its build until it ends";
    EXPECT_EQ(toolCalls("slow", "ok"), 1);
}

TEST_F(PluginToolBuilderTest, ThousandsOfToolCallsShareTheBoundedPool) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    const auto before = threadCount();
    std::vector<std::shared_ptr<CallTools>> calls;
    // 40 tenants, 50 calls each: within every tenant's queue (64), so none is refused.
    for (int i = 0; i < 2000; ++i) {
        auto config = tenant("tools.so");
        config.tenantId = "t" + std::to_string(i % 40);
        calls.push_back(
            builder.build(config, {"rtc_" + std::to_string(i), config.tenantId, "+1555", "+1556"}, actions));
    }
    Outputs out;
    for (auto& c : calls)
        c->invoke("version", "{}", out.sink());
    ASSERT_TRUE(out.waitFor(2000, 20s));
    EXPECT_LE(threadCount(), before + 1);
    double ok = 0;
    for (int t = 0; t < 40; ++t)
        ok += registry.value(name::kToolCalls,
                             {{"tenant", "t" + std::to_string(t)}, {"tool", "version"}, {"outcome", "ok"}});
    EXPECT_EQ(ok, 2000);
}

TEST_F(PluginToolBuilderTest, ARefusedToolCallIsAnsweredAtOnceAndCounted) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    PluginToolBuilder tight(dir.path(), registry, ToolExecutor::Options{2, 1, 0}); // one running, none waiting
    auto tools = tight.build(tenant("tools.so"), call(), actions);
    Outputs busy, refused;
    tools->invoke("slow", R"({"ms":300})", busy.sink());
    tools->invoke("echo", "{}", refused.sink());
    ASSERT_EQ(refused.all().size(), 1u) << "answered before invoke returned";
    EXPECT_EQ(refused.all()[0], R"({"error":"tool queue full for this tenant; try again shortly"})");
    EXPECT_EQ(toolCalls("echo", "refused"), 1);
    EXPECT_EQ(registry.value(name::kToolRefused, {{"tenant", "acme"}}), 1);
    EXPECT_EQ(registry.observations(name::kToolSeconds, {{"tenant", "acme"}, {"tool", "echo"}}), 0u) << "never ran";
    EXPECT_EQ(parse(busy.first())->getValue<int>("version"), 1);
}

TEST_F(PluginToolBuilderTest, ReadsATenantsOwnLowerToolConcurrencyFromItsSettings) {
    EXPECT_EQ(PluginToolBuilder::toolConcurrency(tenant("", "{}"), 4), 4u);
    EXPECT_EQ(PluginToolBuilder::toolConcurrency(tenant("", R"({"tool_concurrency":1})"), 4), 1u);
    EXPECT_EQ(PluginToolBuilder::toolConcurrency(tenant("", R"({"tool_concurrency":10})"), 4), 4u) << "never above";
    EXPECT_EQ(PluginToolBuilder::toolConcurrency(tenant("", R"({"tool_concurrency":0})"), 4), 4u);
    EXPECT_EQ(PluginToolBuilder::toolConcurrency(tenant("", R"({"tool_concurrency":1.5})"), 4), 4u);
    EXPECT_EQ(PluginToolBuilder::toolConcurrency(tenant("", R"({"tool_concurrency":"two"})"), 4), 4u);
}

TEST_F(PluginToolBuilderTest, ATenantsToolConcurrencySettingHoldsItsToolsBack) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    auto tools = build("tools.so", R"({"tool_concurrency":1})"); // the builder's share is 2 (4 threads)
    Outputs out;
    tools->invoke("slow", R"({"ms":400})", out.sink());
    tools->invoke("slow", R"({"ms":400})", out.sink());
    auto acme = [&] {
        for (const auto& load : builder.executor()->load())
            if (load.tenant == "acme") return load;
        return ToolExecutor::TenantLoad{};
    };
    EXPECT_TRUE(eventually([&] { return acme().running == 1 && acme().queued == 1; }));
    EXPECT_TRUE(out.waitFor(2));
}

TEST_F(PluginToolBuilderTest, RunsCallHooksInOrderAndContainsADecorationThatThrows) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    const std::string log = dir.file("hooks.log");
    auto tools = build("tools.so", R"({"plugin_config":{"hook_log":")" + log + R"("}})");
    tenants::Instructions instructions{"Be kind.", "Hi"};
    tools->decorateInstructions(instructions);
    EXPECT_EQ(instructions.prompt, "Be kind. [v1]");
    EXPECT_EQ(instructions.greeting, "Hello from version 1");
    tenants::Instructions throwing{"throw", "Hi"};
    tools->decorateInstructions(throwing);
    EXPECT_EQ(throwing.prompt, "throw");

    tools->callStarted();
    for (int i = 0; i < 5; ++i)
        tools->transcript({"caller", "line " + std::to_string(i)});
    tools->callEnded("hangup");
    const std::string expected =
        "started\ncaller: line 0\ncaller: line 1\ncaller: line 2\ncaller: line 3\ncaller: line 4\nended hangup\n";
    for (int i = 0; i < 200 && readFile(log) != expected; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(readFile(log), expected);
}

// An in-process plugin (no library) whose callStarted, and decorateCall for the prompt "hang", wait
// at a gate: the hooks' deadlines are what is tested. Shared with the jobs, like the gate.
struct HangingHooks : sdk::Plugin {
    explicit HangingHooks(std::shared_ptr<Gate> gate) : gate(std::move(gate)) {}
    std::vector<sdk::ToolDefinition> tools() const override { return {}; }
    Poco::JSON::Object::Ptr callTool(sdk::CallContext&, const sdk::ToolCall&) override { return nullptr; }
    void decorateCall(sdk::CallContext&, sdk::CallSetup& setup) override {
        if (setup.instructions == "hang") gate->pass();
        setup.instructions += " [decorated]";
    }
    void onCallStarted(sdk::CallContext&) override {
        gate->pass();
        record("started");
    }
    void onTranscript(sdk::CallContext&, const sdk::TranscriptLine& line) override { record(line.text); }
    void onCallEnded(sdk::CallContext&, const std::string& reason) override { record("ended " + reason); }

    void record(const std::string& line) {
        std::lock_guard lock(mutex);
        lines.push_back(line);
    }
    std::vector<std::string> recorded() {
        std::lock_guard lock(mutex);
        return lines;
    }
    std::shared_ptr<Gate> gate;
    std::mutex mutex;
    std::vector<std::string> lines;
};

class HookDeadlineTest : public PluginToolBuilderTest {
protected:
    HookDeadlineTest() {
        gate->close();
        auto loaded = std::make_shared<sdk::loader::LoadedPlugin>();
        loaded->plugin = plugin;
        loaded->path = "hanging-hooks (in process)";
        // Hooks get min(tool timeout, 5 s): 100 ms here.
        tools = std::make_shared<PluginCallTools>(
            loaded, std::make_unique<HostCallContext>(tenant(""), call(), actions, loaded->path), executor, registry,
            100ms);
    }
    ~HookDeadlineTest() override {
        gate->open(); // the hung hook returns before the pool goes
        executor->shutdown(5s);
    }
    double hookTimeouts(const std::string& hook) {
        return registry.value(name::kPluginHookTimeouts, {{"tenant", "acme"}, {"hook", hook}});
    }

    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    std::shared_ptr<HangingHooks> plugin = std::make_shared<HangingHooks>(gate);
    std::shared_ptr<ToolExecutor> executor = std::make_shared<ToolExecutor>(ToolExecutor::Options{4, 2, 64});
    std::shared_ptr<PluginCallTools> tools;
};

TEST_F(HookDeadlineTest, AHookThatHangsTimesOutIsCountedAndTheCallsLaterHooksStillRun) {
    tools->callStarted();
    tools->transcript({"caller", "hello"});
    tools->callEnded("hangup");
    ASSERT_TRUE(gate->waitUntilHeld());
    EXPECT_TRUE(eventually([&] {
        return plugin->recorded() == std::vector<std::string>{"hello", "ended hangup"};
    })) << "the later hooks ran while callStarted still hangs";
    EXPECT_EQ(hookTimeouts("onCallStarted"), 1);
    EXPECT_EQ(hookTimeouts("onTranscript"), 0);
    gate->open();
    EXPECT_TRUE(eventually([&] { return plugin->recorded().size() == 3; })); // the late one finishes, unharmed
}

TEST_F(HookDeadlineTest, ADecorationThatHangsLeavesTheInstructionsUndecoratedAndIsCounted) {
    tenants::Instructions plain{"Be kind.", "Hi"};
    tools->decorateInstructions(plain);
    EXPECT_EQ(plain.prompt, "Be kind. [decorated]") << "decorated on the pool, in time";

    tenants::Instructions hanging{"hang", "Hi"};
    const auto start = std::chrono::steady_clock::now();
    tools->decorateInstructions(hanging);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_EQ(hanging.prompt, "hang");
    EXPECT_EQ(hookTimeouts("decorateCall"), 1);
}

TEST_F(PluginToolBuilderTest, TheShippedCallRoutingPluginTransfersThroughTheHostsCallActions) {
    TempDir shipped;
    shipped.install(shippedPlugin("call-routing"), "call-routing.so");
    PluginToolBuilder routing(shipped.path(), registry, 2);
    auto tools = routing.build(tenant("call-routing.so", R"({"plugin_config":{"transfer_target":"tel:+15550100"}})"),
                               call(), actions);
    Outputs transfer, hangup;
    tools->invoke("transfer_to_human", R"({"reason":"asked for a person"})", transfer.sink());
    EXPECT_EQ(parse(transfer.first())->getValue<bool>("transferred"), true);
    tools->invoke("end_call", "{}", hangup.sink());
    EXPECT_EQ(parse(hangup.first())->getValue<bool>("ended"), true);
    EXPECT_EQ(actions->transfers, std::vector<std::string>{"tel:+15550100"});
    EXPECT_EQ(actions->hangups, 1);
}

TEST_F(PluginToolBuilderTest, BuildsTheShippedPluginsFromTheBuildTreePluginDirectory) {
    PluginToolBuilder shipped(SIDEBAND_BUILD_PLUGIN_DIR, registry, 1);
    EXPECT_EQ(shipped.build(tenant("appointments.so"), call(), actions)->tools().size(), 3u);
    EXPECT_EQ(shipped.build(tenant("call-routing.so"), call(), actions)->tools().size(), 2u);
}

} // namespace
