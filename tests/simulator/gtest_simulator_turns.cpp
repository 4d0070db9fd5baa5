// The turn protocol as the real Realtime API plays it (reference §3, "The turn protocol"): one
// response at a time, response.done after a response's function calls, a response.create refused
// while a response is active, parallel calls in one response, barge-in, and the checks that prove a
// host leaves no dead air.
#include "Eventually.h"
#include "RealtimeSimulator.h"
#include "SidebandTestClient.h"
#include "TestHttpClient.h"
#include "core/Json.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <gtest/gtest.h>

#include <thread>

using namespace sideband::simulator;
using namespace sideband::testing;
using namespace std::chrono_literals;
using Poco::JSON::Object;

namespace {

class TurnProtocolTest : public ::testing::Test {
protected:
    void start(std::chrono::milliseconds responseDoneDelay = 20ms) {
        SimulatorOptions options;
        options.responseDoneDelay = responseDoneDelay;
        simulator_ = std::make_unique<RealtimeSimulator>(options);
        simulator_->start();
    }
    void SetUp() override { start(); }

    // Connects as the host and consumes session.created.
    std::unique_ptr<SidebandTestClient> connect(const std::string& callId) {
        auto client = std::make_unique<SidebandTestClient>(simulator_->port(), callId, "", "");
        const auto created = client->receiveEvent();
        EXPECT_TRUE(created && created->getValue<std::string>("type") == "session.created");
        return client;
    }
    std::shared_ptr<SimulatedSession> sessionOf(const std::string& callId) {
        auto session = simulator_->waitForSession(callId, 2s);
        EXPECT_TRUE(session);
        return session;
    }
    // The next event, which must be of `type`.
    static Object::Ptr expectEvent(SidebandTestClient& client, const std::string& type) {
        const auto event = client.receiveEvent();
        EXPECT_TRUE(event) << "no " << type;
        if (!event) return new Object;
        EXPECT_EQ(event->getValue<std::string>("type"), type) << sideband::json::stringify(event);
        EXPECT_FALSE(event->optValue<std::string>("event_id", "").empty()) << type;
        return event;
    }
    static std::string all(const std::vector<std::string>& lines) {
        std::string out;
        for (const auto& line : lines)
            out += line + "\n";
        return out;
    }
    static bool has(const std::vector<std::string>& failures, const std::string& needle) {
        return all(failures).find(needle) != std::string::npos;
    }

    std::unique_ptr<RealtimeSimulator> simulator_;
};

} // namespace

TEST_F(TurnProtocolTest, AFunctionCallResponseEndsWithResponseDoneAfterTheCallItem) {
    start(500ms); // long enough to look at the active response
    auto client = connect("rtc_fc");
    auto session = sessionOf("rtc_fc");
    const auto callId = session->sendFunctionCall("get_order", R"({"order_id":"A7"})");
    const auto activeId = session->activeResponseId();
    ASSERT_TRUE(activeId);

    const auto created = expectEvent(*client, "response.created");
    const auto response = created->getObject("response");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->getValue<std::string>("object"), "realtime.response");
    EXPECT_EQ(response->getValue<std::string>("id"), *activeId);
    EXPECT_EQ(response->getValue<std::string>("id").rfind("resp_", 0), 0u);
    EXPECT_EQ(response->getValue<std::string>("status"), "in_progress");
    EXPECT_EQ(response->getArray("output")->size(), 0u);

    const auto arguments = expectEvent(*client, "response.function_call_arguments.done");
    EXPECT_EQ(arguments->getValue<std::string>("response_id"), *activeId);
    EXPECT_EQ(arguments->getValue<std::string>("call_id"), callId);
    EXPECT_EQ(arguments->getValue<int>("output_index"), 0);
    const auto itemDone = expectEvent(*client, "response.output_item.done");
    EXPECT_EQ(itemDone->getValue<std::string>("response_id"), *activeId);
    EXPECT_EQ(itemDone->getObject("item")->getValue<std::string>("call_id"), callId);

    // Nothing else until response.done, which comes responseDoneDelay after the item.
    const auto done = expectEvent(*client, "response.done");
    const auto finished = done->getObject("response");
    EXPECT_EQ(finished->getValue<std::string>("id"), *activeId);
    EXPECT_EQ(finished->getValue<std::string>("status"), "completed");
    EXPECT_TRUE(finished->isNull("status_details"));
    ASSERT_EQ(finished->getArray("output")->size(), 1u);
    EXPECT_EQ(finished->getArray("output")->getObject(0)->getValue<std::string>("call_id"), callId);
    EXPECT_FALSE(session->activeResponseId());

    const auto responses = session->responses();
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].kind, ResponseRecord::Kind::FunctionCalls);
    EXPECT_EQ(responses[0].status, "completed");
    EXPECT_EQ(responses[0].callIds, std::vector<std::string>{callId});
    EXPECT_GE(responses[0].doneAt - responses[0].createdAt, 500ms); // responseDoneDelay after the item
    EXPECT_EQ(session->turnStats().responsesCompleted, 1u);
}

TEST_F(TurnProtocolTest, ResponseCreateWhileAResponseIsActiveIsRefusedWithConversationAlreadyHasActiveResponse) {
    start(1000ms); // the host's response.create surely comes while the response is active
    auto client = connect("rtc_busy");
    auto session = sessionOf("rtc_busy");
    const auto callId = session->sendFunctionCall("get_order", "{}");
    const auto responseId =
        expectEvent(*client, "response.created")->getObject("response")->getValue<std::string>("id");
    expectEvent(*client, "response.function_call_arguments.done");
    expectEvent(*client, "response.output_item.done");
    // The old host's way: the tool's output and a response.create before the response is done.
    client->sendFunctionOutput(callId, "ok");

    const auto error = expectEvent(*client, "error");
    const auto body = error->getObject("error");
    ASSERT_TRUE(body);
    EXPECT_EQ(body->getValue<std::string>("type"), "invalid_request_error");
    EXPECT_EQ(body->getValue<std::string>("code"), "conversation_already_has_active_response");
    EXPECT_EQ(body->getValue<std::string>("message"),
              "Conversation already has an active response in progress: " + responseId +
                  ". Wait until the response is finished before creating a new one.");
    EXPECT_TRUE(body->has("param") && body->isNull("param"));
    EXPECT_TRUE(body->has("event_id") && body->isNull("event_id"));
    // The request was dropped: the response just ends, and nothing else is said.
    const auto done = expectEvent(*client, "response.done");
    EXPECT_EQ(done->getObject("response")->getValue<std::string>("status"), "completed");
    EXPECT_EQ(client->receiveEvent(300ms), nullptr);

    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 1u);
    EXPECT_TRUE(creates[0].refused);
    EXPECT_EQ(creates[0].activeResponseId, responseId);
    EXPECT_TRUE(creates[0].responseId.empty());
    EXPECT_EQ(session->turnStats().responseCreatesRefused, 1u);
    EXPECT_EQ(session->turnStats().responseCreatesAccepted, 0u);
    EXPECT_EQ(simulator_->turnStats().responseCreatesRefused, 1u);
}

TEST_F(TurnProtocolTest, AnAcceptedResponseCreateStartsASpokenResponseThatIsActiveUntilItsDone) {
    start(1000ms);
    auto client = connect("rtc_spoken");
    auto session = sessionOf("rtc_spoken");
    client->sendResponseCreate("Greet the caller");
    const auto created = expectEvent(*client, "response.created");
    const auto responseId = created->getObject("response")->getValue<std::string>("id");
    EXPECT_EQ(created->getObject("response")->getValue<std::string>("status"), "in_progress");
    const auto said = expectEvent(*client, "response.output_audio_transcript.done");
    EXPECT_EQ(said->getValue<std::string>("response_id"), responseId);
    EXPECT_EQ(said->getValue<std::string>("transcript"), "Simulated spoken reply.");
    client->sendResponseCreate(); // while it speaks: refused
    const auto error = expectEvent(*client, "error");
    EXPECT_EQ(error->getObject("error")->getValue<std::string>("code"), "conversation_already_has_active_response");
    const auto done = expectEvent(*client, "response.done");
    EXPECT_EQ(done->getObject("response")->getValue<std::string>("id"), responseId);
    EXPECT_EQ(done->getObject("response")->getValue<std::string>("status"), "completed");
    const auto message = done->getObject("response")->getArray("output")->getObject(0);
    EXPECT_EQ(message->getValue<std::string>("type"), "message");
    EXPECT_EQ(message->getValue<std::string>("role"), "assistant");

    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 2u);
    EXPECT_FALSE(creates[0].refused);
    EXPECT_EQ(creates[0].responseId, responseId);
    EXPECT_TRUE(creates[1].refused);
    EXPECT_EQ(creates[1].activeResponseId, responseId);
    const auto responses = session->responses();
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].kind, ResponseRecord::Kind::Spoken);
    EXPECT_TRUE(session->failures().empty()) << all(session->failures()); // no function call: nothing owed
}

TEST_F(TurnProtocolTest, ResponseCreateRecordsInstructions) {
    auto client = connect("rtc_instr");
    auto session = sessionOf("rtc_instr");
    client->send(R"({"type":"session.update","session":{"type":"realtime","instructions":"You are Ada. Be brief."}})");
    expectEvent(*client, "session.updated");
    client->sendResponseCreate("Say hello");
    ASSERT_TRUE(client->receiveUntil("response.done"));
    client->send(R"({"type":"session.update","session":{"instructions":"You are Bob."}})");
    ASSERT_TRUE(client->receiveUntil("session.updated"));
    client->sendResponseCreate();
    ASSERT_TRUE(client->receiveUntil("response.done"));

    const auto creates = session->responseCreates();
    ASSERT_EQ(creates.size(), 2u);
    EXPECT_EQ(creates[0].instructions, std::optional<std::string>("Say hello"));
    EXPECT_EQ(creates[0].sessionInstructions, "You are Ada. Be brief.");
    EXPECT_FALSE(creates[0].refused);
    EXPECT_EQ(creates[1].instructions, std::nullopt);
    EXPECT_EQ(creates[1].sessionInstructions, "You are Bob.");
    EXPECT_LE(creates[0].at, creates[1].at);
}

TEST_F(TurnProtocolTest, ParallelFunctionCallsArriveInOneResponse) {
    simulator_->setScript("rtc_par", parseCallScript(R"([
        {"function_calls":[{"name":"get_order","arguments":{"id":"A7"},"call_id":"call_a"},
                           {"name":"get_weather","arguments":{"city":"Oslo"},"call_id":"call_b"}]},
        {"expect_output_contains":"sunny"},
        {"say":"agent","text":"Shipped, and sunny."}])"));
    auto client = connect("rtc_par");
    const auto created = expectEvent(*client, "response.created");
    const auto responseId = created->getObject("response")->getValue<std::string>("id");
    const std::vector<std::pair<std::string, std::string>> calls = {{"call_a", "get_order"}, {"call_b", "get_weather"}};
    for (int i = 0; i < 2; ++i) {
        const auto arguments = expectEvent(*client, "response.function_call_arguments.done");
        EXPECT_EQ(arguments->getValue<std::string>("response_id"), responseId);
        EXPECT_EQ(arguments->getValue<int>("output_index"), i);
        EXPECT_EQ(arguments->getValue<std::string>("call_id"), calls[i].first);
        EXPECT_EQ(arguments->getValue<std::string>("name"), calls[i].second);
        const auto itemDone = expectEvent(*client, "response.output_item.done");
        EXPECT_EQ(itemDone->getValue<int>("output_index"), i);
        EXPECT_EQ(itemDone->getObject("item")->getValue<std::string>("call_id"), calls[i].first);
    }
    const auto done = expectEvent(*client, "response.done");
    const auto output = done->getObject("response")->getArray("output");
    ASSERT_EQ(output->size(), 2u);
    EXPECT_EQ(output->getObject(0)->getValue<std::string>("call_id"), "call_a");
    EXPECT_EQ(output->getObject(1)->getValue<std::string>("call_id"), "call_b");

    client->sendOutput("call_a", R"({"status":"shipped"})");
    client->sendOutput("call_b", R"({"sky":"sunny"})");
    client->sendResponseCreate();
    expectEvent(*client, "response.created"); // the model answers
    ASSERT_TRUE(client->receiveUntil("response.done"));
    // The script went on only after the response.create.
    const auto said = client->receiveUntil("response.output_audio_transcript.done");
    ASSERT_TRUE(said);
    EXPECT_EQ(said->getValue<std::string>("transcript"), "Shipped, and sunny.");
    auto session = sessionOf("rtc_par");
    ASSERT_TRUE(session->waitForScript(5s));
    EXPECT_TRUE(session->failures().empty()) << all(session->failures());
    const auto responses = session->responses();
    ASSERT_GE(responses.size(), 1u);
    EXPECT_EQ(responses[0].callIds, (std::vector<std::string>{"call_a", "call_b"}));
    EXPECT_EQ(responses[0].responseCreates, 1u);
    EXPECT_EQ(simulator_->resumeStats().count, 1u);
    for (const auto& call : session->functionCalls())
        EXPECT_TRUE(call.responseCreateFollowed) << call.callId;
}

TEST_F(TurnProtocolTest, ResponseCreateAfterOnlySomeParallelOutputsIsAFailure) {
    simulator_->setScript("rtc_half", parseCallScript(R"([
        {"function_calls":[{"name":"a","call_id":"call_1"},{"name":"b","call_id":"call_2"}],"timeout_ms":1500}])"));
    auto client = connect("rtc_half");
    ASSERT_TRUE(client->receiveUntil("response.done"));
    client->sendOutput("call_1", "one");
    client->sendResponseCreate(); // before call_2's output: the model would answer without it
    ASSERT_TRUE(client->receiveUntil("response.done"));
    client->sendOutput("call_2", "two");
    auto session = sessionOf("rtc_half");
    ASSERT_TRUE(session->waitForScript(5s));
    const auto failures = session->failures();
    EXPECT_TRUE(has(failures, "before all its outputs (missing call_2)")) << all(failures);
    EXPECT_TRUE(has(failures, "dead air after resp_")) << all(failures);
}

TEST_F(TurnProtocolTest, NoResponseCreateAfterOutputsIsDeadAir) {
    simulator_->setScript("rtc_quiet", parseCallScript(R"([
        {"function_call":{"name":"get_order","timeout_ms":600}},
        {"say":"agent","text":"after the timeout"}])"));
    auto client = connect("rtc_quiet");
    const auto callIds = [&] {
        const auto event = client->receiveUntil("response.done");
        EXPECT_TRUE(event);
        std::vector<std::string> ids;
        if (event)
            ids.push_back(
                event->getObject("response")->getArray("output")->getObject(0)->getValue<std::string>("call_id"));
        return ids;
    }();
    ASSERT_EQ(callIds.size(), 1u);
    client->sendOutput(callIds[0], "ok"); // and no response.create: the output alone starts nothing
    EXPECT_TRUE(client->receiveUntil("response.output_audio_transcript.done", 3s));
    auto session = sessionOf("rtc_quiet");
    ASSERT_TRUE(session->waitForScript(3s));
    const auto failures = session->failures();
    ASSERT_EQ(failures.size(), 1u) << all(failures);
    const auto responseId = session->responses()[0].id;
    EXPECT_EQ(failures[0], "dead air after " + responseId + ": no response.create after its outputs");
    EXPECT_EQ(session->turnStats().deadAir, 1u);
    EXPECT_TRUE(session->responses()[0].deadAir);
    EXPECT_EQ(simulator_->resumeStats().timeouts, 1u);
    EXPECT_EQ(simulator_->resumeStats().count, 0u);
}

TEST_F(TurnProtocolTest, AResponseCreateBeforeResponseDoneIsRefusedAndLeavesDeadAir) {
    start(500ms);
    simulator_->setScript("rtc_early",
                          parseCallScript(R"([{"function_call":{"name":"get_order","timeout_ms":1000}}])"));
    auto client = connect("rtc_early");
    const auto call = client->receiveUntil("response.function_call_arguments.done");
    ASSERT_TRUE(call);
    client->sendFunctionOutput(call->getValue<std::string>("call_id"), "ok"); // runs on arguments.done
    ASSERT_TRUE(client->receiveUntil("error"));
    auto session = sessionOf("rtc_early");
    ASSERT_TRUE(session->waitForScript(5s));
    const auto failures = session->failures();
    ASSERT_EQ(failures.size(), 1u) << all(failures);
    EXPECT_EQ(failures[0].rfind("dead air after resp_", 0), 0u) << failures[0];
    EXPECT_EQ(session->turnStats().responseCreatesRefused, 1u);
}

TEST_F(TurnProtocolTest, DeadAirIsFoundWhenTheCallEndsWithoutAScript) {
    auto client = connect("rtc_direct");
    auto session = sessionOf("rtc_direct");
    const auto callId = session->sendFunctionCall("get_order", "{}");
    ASSERT_TRUE(client->receiveUntil("response.done"));
    client->sendOutput(callId, "ok");
    ASSERT_TRUE(session->waitForFunctionOutput(callId, 2s));
    std::this_thread::sleep_for(600ms); // past the grace a response.create on its way gets
    client->close();
    ASSERT_TRUE(session->waitForClose(2s));
    const auto failures = session->failures();
    ASSERT_EQ(failures.size(), 1u) << all(failures);
    EXPECT_EQ(failures[0].rfind("dead air after resp_", 0), 0u) << failures[0];
}

TEST_F(TurnProtocolTest, TwoResponseCreatesAfterOneResponseIsAFailure) {
    auto client = connect("rtc_twice");
    auto session = sessionOf("rtc_twice");
    const auto callId = session->sendFunctionCall("get_order", "{}");
    ASSERT_EQ(client->answerResponse("ok"), std::vector<std::string>{callId});
    ASSERT_TRUE(client->receiveUntil("response.done")); // the spoken answer
    client->sendResponseCreate();                       // and once more
    ASSERT_TRUE(client->receiveUntil("response.done"));
    const auto failures = session->failures();
    ASSERT_EQ(failures.size(), 1u) << all(failures);
    EXPECT_EQ(failures[0], "two response.create after " + session->responses()[0].id);
    EXPECT_EQ(session->turnStats().extraResponseCreates, 1u);
    EXPECT_EQ(session->turnStats().responseCreatesAccepted, 2u);
}

TEST_F(TurnProtocolTest, TheResumeIsMeasuredFromTheFunctionCallToTheResponseCreate) {
    start(100ms);
    auto client = connect("rtc_resume");
    auto session = sessionOf("rtc_resume");
    const auto callId = session->sendFunctionCall("get_order", "{}");
    ASSERT_EQ(client->answerResponse("ok"), std::vector<std::string>{callId}); // after response.done
    ASSERT_TRUE(eventually([&] { return simulator_->resumeStats().count == 1; }));
    const auto resumes = simulator_->resumes();
    ASSERT_EQ(resumes.size(), 1u);
    EXPECT_GE(resumes[0], 100ms); // the host waited for response.done
    EXPECT_LT(resumes[0], 5s);
    const auto response = session->responses()[0];
    EXPECT_EQ(response.resumedAfter, resumes[0]);
    EXPECT_GE(response.resumedAfter, session->functionCalls()[0].roundTrip);
    EXPECT_TRUE(session->functionCalls()[0].responseCreateFollowed);
    simulator_->resetRoundTrips();
    EXPECT_EQ(simulator_->resumeStats().count, 0u);
}

TEST_F(TurnProtocolTest, BargeInEndsTheResponseCancelled) {
    simulator_->setScript("rtc_barge", parseCallScript(R"([
        {"barge_in":{"name":"book_appointment","arguments":{"time":"09:00"},"call_id":"call_b",
                     "caller_says":"Wait, not 9","quiet_ms":200}},
        {"say":"agent","text":"Sure, what time?"}])"));
    auto client = connect("rtc_barge");
    const auto responseId =
        expectEvent(*client, "response.created")->getObject("response")->getValue<std::string>("id");
    const auto arguments = expectEvent(*client, "response.function_call_arguments.done");
    EXPECT_EQ(arguments->getValue<std::string>("call_id"), "call_b");
    expectEvent(*client, "response.output_item.done");
    const auto done = expectEvent(*client, "response.done");
    const auto response = done->getObject("response");
    EXPECT_EQ(response->getValue<std::string>("id"), responseId);
    EXPECT_EQ(response->getValue<std::string>("status"), "cancelled");
    const auto details = response->getObject("status_details");
    ASSERT_TRUE(details);
    EXPECT_EQ(details->getValue<std::string>("type"), "cancelled");
    EXPECT_EQ(details->getValue<std::string>("reason"), "turn_detected");
    const auto caller = expectEvent(*client, "conversation.item.input_audio_transcription.completed");
    EXPECT_EQ(caller->getValue<std::string>("transcript"), "Wait, not 9");
    const auto said = expectEvent(*client, "response.output_audio_transcript.done"); // after the quiet window
    EXPECT_EQ(said->getValue<std::string>("transcript"), "Sure, what time?");

    auto session = sessionOf("rtc_barge");
    ASSERT_TRUE(session->waitForScript(2s));
    EXPECT_TRUE(session->failures().empty()) << all(session->failures());
    const auto responses = session->responses();
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].kind, ResponseRecord::Kind::BargeIn);
    EXPECT_EQ(responses[0].status, "cancelled");
    EXPECT_EQ(responses[0].reason, "turn_detected");
    // The script stayed quiet for quiet_ms after the cancel.
    std::optional<SteadyTime> saidAt;
    for (const auto& entry : session->trace())
        if (entry.text.find("Sure, what time?") != std::string::npos) saidAt = entry.at;
    ASSERT_TRUE(saidAt);
    EXPECT_GE(*saidAt - responses[0].doneAt, 200ms);
    EXPECT_TRUE(session->functionCalls()[0].cancelled);
    EXPECT_EQ(session->turnStats().responsesCancelled, 1u);
}

TEST_F(TurnProtocolTest, OutputForACancelledCallIsAFailure) {
    simulator_->setScript("rtc_ran", parseCallScript(R"([{"barge_in":{"name":"book","call_id":"call_x"}}])"));
    auto client = connect("rtc_ran");
    const auto done = client->receiveUntil("response.done");
    ASSERT_TRUE(done);
    EXPECT_EQ(done->getObject("response")->getValue<std::string>("status"), "cancelled");
    client->sendOutput("call_x", "booked");
    auto session = sessionOf("rtc_ran");
    ASSERT_TRUE(eventually([&] { return !session->failures().empty(); }, 2s));
    const auto failures = session->failures();
    ASSERT_EQ(failures.size(), 1u) << all(failures);
    EXPECT_EQ(failures[0],
              "output for a function call of a cancelled response: call_x (" + session->responses()[0].id + ")");
    EXPECT_EQ(session->turnStats().bargeInViolations, 1u);
}

TEST_F(TurnProtocolTest, AResponseCreateAfterABargeInTalksOverTheCaller) {
    simulator_->setScript("rtc_over", parseCallScript(R"([{"barge_in":{"name":"book","quiet_ms":500}}])"));
    auto client = connect("rtc_over");
    ASSERT_TRUE(client->receiveUntil("response.done"));
    client->sendResponseCreate();
    ASSERT_TRUE(client->receiveUntil("response.created")); // the real API would start talking
    auto session = sessionOf("rtc_over");
    ASSERT_TRUE(eventually([&] { return !session->failures().empty(); }, 2s));
    EXPECT_EQ(session->failures()[0],
              "response.create after a cancelled response talks over the caller (" + session->responses()[0].id + ")");
}

TEST_F(TurnProtocolTest, ToolsThatEndTheCallNeedNoResponseCreate) {
    simulator_->setScript("rtc_transfer", parseCallScript(R"([
        {"function_call":{"name":"transfer_call","await_output":false}},
        {"expect_rest":{"action":"refer","timeout_ms":3000}}])"));
    auto client = connect("rtc_transfer");
    const auto callIds = [&] {
        const auto done = client->receiveUntil("response.done");
        std::vector<std::string> ids;
        if (done)
            ids.push_back(
                done->getObject("response")->getArray("output")->getObject(0)->getValue<std::string>("call_id"));
        return ids;
    }();
    ASSERT_EQ(callIds.size(), 1u);
    client->sendOutput(callIds[0], R"({"transferred":true})");
    std::this_thread::sleep_for(600ms); // past the dead-air grace
    // The host transfers (REST refer) instead of asking the model for more.
    TestHttpClient rest("127.0.0.1", simulator_->port(), "");
    EXPECT_EQ(
        rest.request("POST", "/v1/realtime/calls/rtc_transfer/refer", R"({"target_uri":"tel:+14155550123"})").status,
        200);
    auto session = sessionOf("rtc_transfer");
    ASSERT_TRUE(session->waitForScript(3s));
    EXPECT_EQ(client->receiveFrame(3s).opcode, Poco::Net::WebSocket::FRAME_OP_CLOSE);
    client->close();
    ASSERT_TRUE(session->waitForClose(3s));
    EXPECT_EQ(session->closeInfo().initiator, "rest");
    EXPECT_TRUE(session->failures().empty()) << all(session->failures());
    EXPECT_EQ(session->turnStats().deadAir, 0u);
}

TEST_F(TurnProtocolTest, TheCallEndingBeforeTheOutputsIsNotDeadAir) {
    auto client = connect("rtc_gone");
    auto session = sessionOf("rtc_gone");
    const auto callId = session->sendFunctionCall("slow_tool", "{}");
    ASSERT_TRUE(client->receiveUntil("response.done"));
    std::this_thread::sleep_for(600ms);
    session->hangup(CloseMode::Abrupt); // the caller left while the tool ran
    EXPECT_TRUE(session->failures().empty()) << all(session->failures());
    EXPECT_FALSE(session->functionCalls()[0].outputReceived);
    (void)callId;
}

TEST_F(TurnProtocolTest, ResponseCancelFromTheHostEndsTheActiveResponse) {
    start(2000ms);
    auto client = connect("rtc_cancel");
    auto session = sessionOf("rtc_cancel");
    client->sendResponseCreate();
    ASSERT_TRUE(client->receiveUntil("response.created"));
    client->send(R"({"type":"response.cancel"})");
    const auto done = client->receiveUntil("response.done", 1000ms);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->getObject("response")->getValue<std::string>("status"), "cancelled");
    EXPECT_EQ(done->getObject("response")->getObject("status_details")->getValue<std::string>("reason"),
              "client_cancelled");
    client->send(R"({"type":"response.cancel"})"); // nothing to cancel now
    const auto error = client->receiveUntil("error");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->getObject("error")->getValue<std::string>("code"), "response_cancel_not_active");
}

TEST_F(TurnProtocolTest, AScriptedFunctionCallWaitsForTheSpokenResponseInProgress) {
    start(150ms);
    simulator_->setScript("rtc_order", parseCallScript(R"([
        {"function_call":{"name":"first"}},
        {"function_call":{"name":"second"}}])"));
    auto client = connect("rtc_order");
    ASSERT_EQ(client->answerResponse("ok").size(), 1u);
    // The answer to the response.create is spoken; the next call's response starts after its done.
    std::vector<std::string> types;
    for (int i = 0; i < 4; ++i) {
        const auto event = client->receiveEvent();
        ASSERT_TRUE(event);
        types.push_back(event->getValue<std::string>("type"));
    }
    EXPECT_EQ(types, (std::vector<std::string>{"response.created", "response.output_audio_transcript.done",
                                               "response.done", "response.created"}));
    ASSERT_EQ(client->answerResponse("ok").size(), 1u);
    auto session = sessionOf("rtc_order");
    ASSERT_TRUE(session->waitForScript(5s));
    EXPECT_TRUE(session->failures().empty()) << all(session->failures());
    EXPECT_EQ(session->turnStats().responseCreatesRefused, 0u);
    EXPECT_TRUE(eventually([&] { return simulator_->resumeStats().count == 2; }));
}

TEST_F(TurnProtocolTest, ResponseDoneDelayZeroSendsTheResponseBackToBack) {
    start(0ms);
    auto client = connect("rtc_fast");
    auto session = sessionOf("rtc_fast");
    session->sendFunctionCall("tick", "{}");
    EXPECT_FALSE(session->activeResponseId());
    for (const std::string type :
         {"response.created", "response.function_call_arguments.done", "response.output_item.done", "response.done"})
        expectEvent(*client, type);
}
