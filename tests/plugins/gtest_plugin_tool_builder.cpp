// PluginToolBuilder end to end with real plugins: tool results, errors, deadlines, metrics, hooks,
// reload while a call is in flight, and the shipped call-routing plugin acting on the call.
#include "TestPlugins.h"
#include "metrics/SidebandMetrics.h"
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
    for (int i = 0; i < 2000; ++i)
        calls.push_back(builder.build(tenant("tools.so"), call("rtc_" + std::to_string(i)), actions));
    Outputs out;
    for (auto& c : calls)
        c->invoke("version", "{}", out.sink());
    ASSERT_TRUE(out.waitFor(2000, 20s));
    EXPECT_LE(threadCount(), before + 1);
    EXPECT_EQ(toolCalls("version", "ok"), 2000);
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
