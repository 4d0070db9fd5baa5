// Scenario files are data written by plugin authors: a mistake must name the field.
#include "CallScript.h"

#include <gtest/gtest.h>

using namespace sideband::simulator;

namespace {

std::string errorOf(const std::string& json) {
    try {
        parseScenario(json);
    } catch (const ScenarioError& e) {
        return e.what();
    }
    return "(parsed)";
}

const char* kExample = R"({"calls":[{"name":"book a cleaning","from":"+14155550100","from_name":"Alice",
  "to":"+18005550123","expect":{"rest":["accept"],"webhook_body_contains":"accepted"},
  "steps":[{"say":"caller","text":"I'd like a cleaning next Tuesday"},
           {"function_call":{"name":"find_slots","arguments":{"date":"2026-12-01"}}},
           {"expect_output_contains":"slot"},
           {"function_call":{"name":"book_appointment","arguments":"{\"slot\":\"9am\"}","timeout_ms":2000}},
           {"say":"agent","text":"You're booked."},
           {"error":{"code":"conversation_already_has_active_response"}},
           {"unknown_event":"response.brand_new_thing"},
           {"wait_ms":100},
           {"hangup":"caller","close_frame":false}]}]})";

} // namespace

TEST(ScenarioParser, ParsesTheDocumentedExample) {
    const auto scenario = parseScenario(kExample);
    ASSERT_EQ(scenario.calls.size(), 1u);
    const auto& call = scenario.calls[0];
    EXPECT_EQ(call.name, "book a cleaning");
    EXPECT_EQ(call.fromName, "Alice");
    EXPECT_EQ(call.expect.restCalls, std::vector<std::string>{"accept"});
    EXPECT_EQ(call.expect.webhookBodyContains, std::vector<std::string>{"accepted"});
    const auto& steps = call.script->steps;
    ASSERT_EQ(steps.size(), 9u);
    EXPECT_EQ(steps[1].kind, Step::Kind::FunctionCall);
    EXPECT_EQ(steps[1].argumentsJson, R"({"date":"2026-12-01"})");
    EXPECT_EQ(steps[3].argumentsJson, R"({"slot":"9am"})"); // a JSON string is sent as is
    EXPECT_EQ(steps[3].timeout, std::chrono::milliseconds(2000));
    EXPECT_EQ(steps[5].errorCode, "conversation_already_has_active_response");
    EXPECT_EQ(steps[6].kind, Step::Kind::Raw);
    EXPECT_NE(steps[6].json.find("response.brand_new_thing"), std::string::npos);
    EXPECT_EQ(steps[8].kind, Step::Kind::Hangup);
    EXPECT_EQ(steps[8].closeMode, CloseMode::Abrupt);
}

TEST(ScenarioParser, RepeatBecomesBodyPlusLoop) {
    const auto script = parseCallScript(
        R"([{"say":"caller","text":"hi"},{"repeat":{"times":3,"steps":[{"function_call":{"name":"ping"}},{"wait_ms":5}]}}])");
    ASSERT_EQ(script.steps.size(), 4u);
    EXPECT_EQ(script.steps[3].kind, Step::Kind::Loop);
    EXPECT_EQ(script.steps[3].target, 1u);
    EXPECT_EQ(script.steps[3].times, 3);
}

TEST(ScenarioParser, MissingFunctionNameNamesTheField) {
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"say":"caller","text":"x"},{"function_call":{"arguments":{}}}]}]})"),
              "calls[0].steps[1].function_call.name: required string is missing");
}

TEST(ScenarioParser, WrongTypeNamesTheField) {
    EXPECT_EQ(errorOf(R"({"calls":[{"timeout_ms":"soon"}]})"), "calls[0].timeout_ms: must be an integer");
    EXPECT_EQ(errorOf(R"({"calls":[{"expect":{"rest":["accept",7]}}]})"), "calls[0].expect.rest[1]: must be a string");
}

TEST(ScenarioParser, UnknownFieldsAreErrorsNotSilentlyIgnored) {
    EXPECT_EQ(errorOf(R"({"calls":[{"form":"+1415"}]})"), "calls[0].form: unknown field");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"function_call":{"name":"a","args":{}}}]}]})"),
              "calls[0].steps[0].function_call.args: unknown field");
}

TEST(ScenarioParser, StepWithoutOrWithTwoActionsIsRejected) {
    EXPECT_NE(errorOf(R"({"calls":[{"steps":[{"text":"x"}]}]})").find("calls[0].steps[0]: needs one of"),
              std::string::npos);
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"wait_ms":1,"idle_s":2}]}]})"),
              "calls[0].steps[0]: has both 'idle_s' and 'wait_ms'; one action per step");
}

TEST(ScenarioParser, BadEnumValuesNameTheField) {
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"say":"robot","text":"x"}]}]})"),
              "calls[0].steps[0].say: must be \"caller\" or \"agent\"");
    EXPECT_EQ(errorOf(R"({"calls":[{"connect":"maybe"}]})"),
              "calls[0].connect: must be accept, refuse_403, refuse_404 or close_immediately");
    EXPECT_EQ(errorOf(R"({"calls":[{"expect":{"outcome":"ring"}}]})"),
              "calls[0].expect.outcome: must be accept, reject, none or any");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"expect_rest":"transfer"}]}]})"),
              "calls[0].steps[0].expect_rest: action must be accept, reject, refer or hangup");
}

TEST(ScenarioParser, DocumentErrors) {
    EXPECT_NE(errorOf("{not json").find("scenario is not valid JSON"), std::string::npos);
    EXPECT_EQ(errorOf(R"({"calls":[]})"), "calls: must not be empty");
    EXPECT_EQ(errorOf(R"({})"), "calls: required array is missing");
    EXPECT_EQ(errorOf(R"({"calls":[3]})"), "calls[0]: must be an object");
}

TEST(ScenarioParser, NetworkBehaviours) {
    const auto scenario = parseScenario(R"({"calls":[
        {"split_frames":true,"steps":[{"say":"caller","text":"hi"},{"black_hole":true}]},
        {"steps":[]}]})");
    EXPECT_EQ(scenario.calls[0].script->splitFrames, std::optional<bool>(true));
    EXPECT_EQ(scenario.calls[0].script->steps[1].kind, Step::Kind::BlackHole);
    EXPECT_EQ(scenario.calls[1].script->splitFrames, std::nullopt); // the simulator's option decides
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"black_hole":false}]}]})"), "calls[0].steps[0].black_hole: must be true");
    EXPECT_EQ(errorOf(R"({"calls":[{"split_frames":"yes"}]})"), "calls[0].split_frames: must be true or false");
}
