// SIDEBAND_LOG_FORMAT=json with the real binary: every line the process writes is one JSON
// object, and every line about a call carries "call_id" and "tenant_id" as fields (no line
// mentions a call only inside its text). Covers the pipeline, the session, the plugin's own log
// lines and tool failures, and a hostile call id.
#include "BinaryWithSimulator.h"

#include "core/Json.h"

#include <Poco/JSON/Object.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <set>
#include <sstream>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

namespace {

struct Line {
    std::string text;
    Poco::JSON::Object::Ptr json; // null: not a JSON object
    std::string field(const std::string& key) const {
        return json && json->has(key) && !json->isNull(key) ? json->getValue<std::string>(key) : std::string();
    }
};

std::vector<Line> parseLines(const std::string& output) {
    std::vector<Line> lines;
    std::istringstream in(output);
    for (std::string text; std::getline(in, text);) {
        Line line{text, nullptr};
        const auto parsed = json::parse(text);
        if (!parsed.isEmpty() && parsed.type() == typeid(Poco::JSON::Object::Ptr))
            line.json = parsed.extract<Poco::JSON::Object::Ptr>();
        lines.push_back(line);
    }
    return lines;
}

} // namespace

TEST(JsonLogs, EveryLineIsJsonAndCallLinesCarryBothIds) {
    BinaryWithSimulator env;
    env.env()["SIDEBAND_LOG_FORMAT"] = "json";
    env.env()["SIDEBAND_LOG_LEVEL"] = "debug";
    env.installPlugin(SIDEBAND_PLUGIN_V1, "tools.so");
    env.addTenant("acme", "+18005550123", R"({"plugin":"tools.so"})");
    ASSERT_TRUE(env.start()) << env.host().output();

    // An accepted call with tools, transcripts, a failing tool and a hang-up.
    ASSERT_THAT(env.incomingCall("rtc_json_ok").body, HasSubstr(R"("accepted":true)"));
    auto session = env.simulator().waitForSession("rtc_json_ok", 15s);
    ASSERT_TRUE(session);
    ASSERT_TRUE(session->waitForEvent("session.update", 15s));
    session->sendTranscript("caller", "I'd like an appointment");
    ASSERT_TRUE(session->waitForFunctionOutput(session->sendFunctionCall("echo", R"({"x":1})"), 15s));
    ASSERT_TRUE(session->waitForFunctionOutput(session->sendFunctionCall("throws", "{}"), 15s));
    session->sendTranscript("agent", "Tuesday at nine?");
    session->hangup(/*closeFrame=*/false);
    ASSERT_TRUE(env.waitForLog(R"("call_id":"rtc_json_ok","tenant_id":"acme","msg":"ended ()")) << env.host().output();
    // A call to a number no tenant owns, with a call id built to break a naive JSON line.
    const std::string hostile = "rtc_\"},\n{\"level\":\"critical\",\"forged\":\"\\";
    env.incomingCall(hostile, "+19995550100"); // answered once the decision is logged

    env.host().signal(SIGTERM);
    ASSERT_EQ(env.host().wait(), 0) << env.host().output();

    const auto lines = parseLines(env.host().output());
    ASSERT_GT(lines.size(), 5u);
    int okCallLines = 0;
    std::set<std::string> okMessages;
    bool hostileRejected = false;
    for (const auto& line : lines) {
        ASSERT_TRUE(line.json) << "not a JSON object: " << line.text;
        for (const char* key : {"ts", "level", "thread", "msg"}) EXPECT_TRUE(line.json->has(key)) << line.text;
        const auto msg = line.field("msg");
        EXPECT_THAT(msg, Not(StartsWith("call="))) << "the ids belong in fields: " << line.text;
        if (line.json->has("call_id")) {
            EXPECT_TRUE(line.json->has("tenant_id")) << line.text;
        } else {
            // A line that names the call in its text only would be invisible to a query on call_id.
            EXPECT_THAT(msg, Not(HasSubstr("rtc_json_ok"))) << line.text;
        }
        if (line.field("call_id") == "rtc_json_ok") {
            ++okCallLines;
            EXPECT_EQ(line.field("tenant_id"), "acme") << line.text;
            okMessages.insert(msg.substr(0, msg.find_first_of("(:")));
        }
        if (line.field("call_id") == hostile && msg.rfind("rejected: tenant_resolve_failed", 0) == 0) {
            hostileRejected = true;
            EXPECT_EQ(line.field("tenant_id"), "none") << line.text; // as the metrics label it
        }
        EXPECT_FALSE(line.json->has("forged")) << "a forged record: " << line.text;
    }
    EXPECT_TRUE(hostileRejected) << env.host().output();
    EXPECT_GE(okCallLines, 6) << env.host().output();
    // The pipeline, the session, the plugin's tool failure and the end are all there.
    const auto joined = [&] {
        std::string all;
        for (const auto& m : okMessages) all += m + "|";
        return all;
    }();
    for (const char* expected : {"accepted", "sideband session open", "tool echo", "tool throws failed",
                                 "caller", "agent", "ended"})
        EXPECT_THAT(joined, HasSubstr(expected)) << joined;
}
