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
              "calls[0].steps[0].expect_rest: action must be create, accept, reject, refer or hangup");
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

TEST(ScenarioParser, ParallelFunctionCallsAndBargeInSteps) {
    const auto script = parseCallScript(R"([
        {"function_calls":[{"name":"get_order","arguments":{"id":"A7"},"call_id":"call_a"},
                           {"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}],
         "await_output":false,"timeout_ms":2500},
        {"barge_in":{"name":"book","arguments":{"time":"9"},"call_id":"call_b","quiet_ms":150,"caller_says":"wait"}},
        {"barge_in":{"name":"book"}}])");
    ASSERT_EQ(script.steps.size(), 3u);
    const auto& parallel = script.steps[0];
    EXPECT_EQ(parallel.kind, Step::Kind::FunctionCalls);
    ASSERT_EQ(parallel.calls.size(), 2u);
    EXPECT_EQ(parallel.calls[0].name, "get_order");
    EXPECT_EQ(parallel.calls[0].argumentsJson, R"({"id":"A7"})");
    EXPECT_EQ(parallel.calls[0].callId, "call_a");
    EXPECT_EQ(parallel.calls[1].argumentsJson, R"({"city":"Oslo"})");
    EXPECT_EQ(parallel.calls[1].callId, "");
    EXPECT_FALSE(parallel.awaitOutput);
    EXPECT_EQ(parallel.timeout, std::chrono::milliseconds(2500));
    const auto& barge = script.steps[1];
    EXPECT_EQ(barge.kind, Step::Kind::BargeIn);
    EXPECT_EQ(barge.name, "book");
    EXPECT_EQ(barge.argumentsJson, R"({"time":"9"})");
    EXPECT_EQ(barge.callId, "call_b");
    EXPECT_EQ(barge.quiet, std::chrono::milliseconds(150));
    EXPECT_EQ(barge.text, "wait");
    EXPECT_EQ(script.steps[2].quiet, std::chrono::milliseconds(300)); // the default
    EXPECT_EQ(script.steps[2].argumentsJson, "{}");
}

TEST(ScenarioParser, BadParallelAndBargeInStepsNameTheField) {
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"function_calls":[]}]}]})"),
              "calls[0].steps[0].function_calls: must not be empty");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"function_calls":{"name":"a"}}]}]})"),
              "calls[0].steps[0].function_calls: must be an array of {\"name\",\"arguments\"}");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"function_calls":[{"name":"a"},{"arguments":{}}]}]}]})"),
              "calls[0].steps[0].function_calls[1].name: required string is missing");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"function_calls":[{"name":"a","timeout_ms":5}]}]}]})"),
              "calls[0].steps[0].function_calls[0].timeout_ms: unknown field");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"function_calls":[{"name":"a"}],"await":true}]}]})"),
              "calls[0].steps[0].await: unknown field");
    EXPECT_EQ(
        errorOf(
            R"({"calls":[{"steps":[{"function_calls":[{"name":"a","call_id":"c"},{"name":"b","call_id":"c"}]}]}]})"),
        "calls[0].steps[0].function_calls[1].call_id: repeats c");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"barge_in":{"arguments":{}}}]}]})"),
              "calls[0].steps[0].barge_in.name: required string is missing");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"barge_in":{"name":"a","quiet_ms":-1}}]}]})"),
              "calls[0].steps[0].barge_in.quiet_ms: must be >= 0");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"barge_in":{"name":"a","await_output":false}}]}]})"),
              "calls[0].steps[0].barge_in.await_output: unknown field");
    EXPECT_EQ(errorOf(R"({"calls":[{"steps":[{"barge_in":"now"}]}]})"),
              "calls[0].steps[0].barge_in: must be an object");
}

TEST(ScenarioParser, RestFaultsMakeTheAcceptFail) {
    const auto scenario = parseScenario(R"({"calls":[{"rest_faults":[{"action":"accept","status":401},
        {"action":"hangup","delay_ms":300,"times":2}]}]})");
    const auto& faults = scenario.calls[0].restFaults;
    ASSERT_EQ(faults.size(), 2u);
    EXPECT_EQ(faults[0].action, "accept");
    EXPECT_EQ(faults[0].status, 401);
    EXPECT_EQ(faults[0].times, 1);
    EXPECT_EQ(faults[1].delay, std::chrono::milliseconds(300));
    EXPECT_EQ(faults[1].times, 2);
    EXPECT_EQ(errorOf(R"({"calls":[{"rest_faults":[{"action":"transfer","status":500}]}]})"),
              "calls[0].rest_faults[0].action: must be accept, reject, refer, hangup or *");
    EXPECT_EQ(errorOf(R"({"calls":[{"rest_faults":[{"action":"accept","status":200}]}]})"),
              "calls[0].rest_faults[0].status: must be an HTTP error status (400-599)");
    EXPECT_EQ(errorOf(R"({"calls":[{"rest_faults":[{"action":"accept"}]}]})"),
              "calls[0].rest_faults[0]: needs a status or a delay_ms");
    EXPECT_EQ(errorOf(R"({"calls":[{"rest_faults":{"action":"accept"}}]})"),
              "calls[0].rest_faults: must be an array of {\"action\",\"status\"}");
}

TEST(ScenarioParser, ACreateFaultOnAScenarioCallIsRefusedBecauseItCouldNeverFire) {
    EXPECT_EQ(errorOf(R"({"calls":[{"rest_faults":[{"action":"create","status":500}]}]})"),
              "calls[0].rest_faults[0].action: create never reaches a scenario call (it has no call id yet): put it "
              "in --webrtc-script's rest_faults");
}
