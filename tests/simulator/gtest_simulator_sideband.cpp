// The sideband WebSocket side of the simulator, driven by a small Poco client acting as the host.
#include "Eventually.h"
#include "RealtimeSimulator.h"
#include "SidebandTestClient.h"
#include "TestCertificates.h"
#include "TestHttpClient.h"
#include "TransportMode.h"

#include <Poco/JSON/Array.h>

#include <gtest/gtest.h>

using namespace sideband::simulator;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

class SidebandTest : public ::testing::TestWithParam<TransportMode> {
protected:
    void SetUp() override {
        SimulatorOptions options;
        if (GetParam().tls) {
            options.tlsCert = TestCertificates::shared().certFile();
            options.tlsKey = TestCertificates::shared().keyFile();
        }
        options.expectedApiKey = "sk-test";
        options.referCloseDelay = 50ms;
        simulator_ = std::make_unique<RealtimeSimulator>(options);
        simulator_->start();
    }
    std::string ca() const { return GetParam().tls ? TestCertificates::shared().caFile() : ""; }

    // Connects as the host and consumes session.created.
    std::unique_ptr<SidebandTestClient> connect(const std::string& callId) {
        auto client = std::make_unique<SidebandTestClient>(simulator_->port(), callId, ca());
        auto created = client->receiveEvent();
        EXPECT_TRUE(created);
        if (created) {
            EXPECT_EQ(created->getValue<std::string>("type"), "session.created");
        }
        return client;
    }
    std::shared_ptr<SimulatedSession> sessionOf(const std::string& callId) {
        auto session = simulator_->waitForSession(callId, 2s);
        EXPECT_TRUE(session);
        return session;
    }
    HttpResult rest(const std::string& callId, const std::string& action) {
        TestHttpClient client("127.0.0.1", simulator_->port(), ca());
        return client.request("POST", "/v1/realtime/calls/" + callId + "/" + action, "{}",
                              {{"Authorization", "Bearer sk-test"}});
    }

    std::unique_ptr<RealtimeSimulator> simulator_;
};

} // namespace

TEST_P(SidebandTest, SessionCreatedHasTheGaShape) {
    SidebandTestClient client(simulator_->port(), "rtc_1", ca());
    const auto created = client.receiveEvent();
    ASSERT_TRUE(created);
    EXPECT_EQ(created->getValue<std::string>("type"), "session.created");
    EXPECT_FALSE(created->getValue<std::string>("event_id").empty());
    ASSERT_TRUE(created->getObject("session"));
    EXPECT_EQ(created->getObject("session")->getValue<std::string>("type"), "realtime");
    EXPECT_TRUE(sessionOf("rtc_1")->isConnected());
}

TEST_P(SidebandTest, SessionUpdateIsAnsweredAndRecordedInOrder) {
    auto client = connect("rtc_1");
    client->send(R"({"type":"session.update","session":{"type":"realtime","instructions":"Be brief","tools":[]}})");
    client->send(R"({"type":"response.create","response":{"instructions":"Greet the caller"}})");
    const auto updated = client->receiveEvent();
    ASSERT_TRUE(updated);
    EXPECT_EQ(updated->getValue<std::string>("type"), "session.updated");
    EXPECT_EQ(updated->getObject("session")->getValue<std::string>("instructions"), "Be brief");
    auto session = sessionOf("rtc_1");
    ASSERT_TRUE(session->waitForEvent("response.create", 2s));
    const auto events = session->receivedEvents();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].type, "session.update");
    EXPECT_EQ(events[1].type, "response.create");
}

TEST_P(SidebandTest, FunctionCallAppearsInAllThreeEventsAndRoundTripIsMeasured) {
    auto client = connect("rtc_1");
    auto session = sessionOf("rtc_1");
    const auto callId = session->sendFunctionCall("get_order", R"({"order_id":"A7"})");

    const auto created = client->receiveEvent();
    ASSERT_TRUE(created);
    EXPECT_EQ(created->getValue<std::string>("type"), "response.created");
    const auto arguments = client->receiveEvent();
    ASSERT_TRUE(arguments);
    EXPECT_EQ(arguments->getValue<std::string>("type"), "response.function_call_arguments.done");
    EXPECT_EQ(arguments->getValue<std::string>("call_id"), callId);
    EXPECT_EQ(arguments->getValue<std::string>("name"), "get_order");
    EXPECT_EQ(arguments->getValue<std::string>("arguments"), R"({"order_id":"A7"})"); // a JSON string
    EXPECT_FALSE(arguments->getValue<std::string>("response_id").empty());
    EXPECT_FALSE(arguments->getValue<std::string>("item_id").empty());
    EXPECT_EQ(arguments->getValue<int>("output_index"), 0);

    const auto itemDone = client->receiveEvent();
    ASSERT_TRUE(itemDone);
    EXPECT_EQ(itemDone->getValue<std::string>("type"), "response.output_item.done");
    const auto item = itemDone->getObject("item");
    EXPECT_EQ(item->getValue<std::string>("type"), "function_call");
    EXPECT_EQ(item->getValue<std::string>("status"), "completed");
    EXPECT_EQ(item->getValue<std::string>("call_id"), callId);
    EXPECT_EQ(item->getValue<std::string>("arguments"), R"({"order_id":"A7"})");

    const auto done = client->receiveEvent();
    ASSERT_TRUE(done);
    EXPECT_EQ(done->getValue<std::string>("type"), "response.done");
    const auto response = done->getObject("response");
    EXPECT_EQ(response->getValue<std::string>("status"), "completed");
    EXPECT_EQ(response->getValue<std::string>("id"), arguments->getValue<std::string>("response_id"));
    const auto output = response->getArray("output")->getObject(0);
    EXPECT_EQ(output->getValue<std::string>("type"), "function_call");
    EXPECT_EQ(output->getValue<std::string>("call_id"), callId);
    EXPECT_EQ(output->getValue<std::string>("name"), "get_order");

    client->sendFunctionOutput(callId, R"({"status":"shipped"})"); // after response.done: accepted
    EXPECT_EQ(session->waitForFunctionOutput(callId, 2s), std::optional<std::string>(R"({"status":"shipped"})"));
    ASSERT_TRUE(session->waitForEvent("response.create", 2s));
    const auto calls = session->functionCalls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_TRUE(calls[0].outputReceived);
    EXPECT_TRUE(calls[0].responseCreateFollowed);
    EXPECT_GT(calls[0].roundTrip.count(), 0);
    EXPECT_LT(calls[0].roundTrip, 2s);
    EXPECT_EQ(simulator_->roundTripStats().count, 1u);
    EXPECT_EQ(simulator_->resumeStats().count, 1u);
    EXPECT_TRUE(session->failures().empty()) << session->failures().front();
}

TEST_P(SidebandTest, TranscriptsErrorsAndUnknownEventsGoOut) {
    auto client = connect("rtc_1");
    auto session = sessionOf("rtc_1");
    session->sendTranscript("caller", "Where is my order?");
    session->sendTranscript("agent", "Let me check.");
    session->sendError("conversation_already_has_active_response", "busy");
    session->sendRaw(R"({"type":"response.something_new","event_id":"event_x"})");

    auto event = client->receiveEvent();
    ASSERT_TRUE(event);
    EXPECT_EQ(event->getValue<std::string>("type"), "conversation.item.input_audio_transcription.completed");
    EXPECT_EQ(event->getValue<std::string>("transcript"), "Where is my order?");
    EXPECT_FALSE(event->getValue<std::string>("item_id").empty());
    event = client->receiveEvent();
    ASSERT_TRUE(event);
    EXPECT_EQ(event->getValue<std::string>("type"), "response.output_audio_transcript.done");
    EXPECT_EQ(event->getValue<std::string>("transcript"), "Let me check.");
    event = client->receiveEvent();
    ASSERT_TRUE(event);
    EXPECT_EQ(event->getValue<std::string>("type"), "error");
    EXPECT_EQ(event->getObject("error")->getValue<std::string>("code"), "conversation_already_has_active_response");
    event = client->receiveEvent();
    ASSERT_TRUE(event);
    EXPECT_EQ(event->getValue<std::string>("type"), "response.something_new");
}

TEST_P(SidebandTest, HangupWithCloseFrame) {
    auto client = connect("rtc_1");
    auto session = sessionOf("rtc_1");
    session->hangup(true);
    const auto frame = client->receiveFrame();
    EXPECT_EQ(frame.opcode, Poco::Net::WebSocket::FRAME_OP_CLOSE);
    client->close(); // the host answers the CLOSE
    ASSERT_TRUE(session->waitForClose(3s));
    const auto info = session->closeInfo();
    EXPECT_EQ(info.initiator, "simulator");
    EXPECT_TRUE(info.closeFrameSent);
    EXPECT_TRUE(info.closeFrameReceived);
    EXPECT_FALSE(session->isConnected());
}

TEST_P(SidebandTest, HangupWithoutCloseFrame) {
    auto client = connect("rtc_1");
    auto session = sessionOf("rtc_1");
    session->hangup(false);
    const auto frame = client->receiveFrame();
    EXPECT_TRUE(frame.closed);
    EXPECT_NE(frame.opcode, Poco::Net::WebSocket::FRAME_OP_CLOSE);
    EXPECT_FALSE(session->closeInfo().closeFrameSent);
    EXPECT_FALSE(session->isConnected());
}

TEST_P(SidebandTest, HangupWithReset) {
    auto client = connect("rtc_1");
    auto session = sessionOf("rtc_1");
    session->hangup(CloseMode::Reset);
    EXPECT_TRUE(client->receiveFrame().closed);
}

TEST_P(SidebandTest, HostCloseFrameIsEchoed) {
    auto client = connect("rtc_1");
    auto session = sessionOf("rtc_1");
    client->close();
    EXPECT_EQ(client->receiveFrame().opcode, Poco::Net::WebSocket::FRAME_OP_CLOSE);
    ASSERT_TRUE(session->waitForClose(2s));
    EXPECT_EQ(session->closeInfo().initiator, "host");
    EXPECT_TRUE(session->closeInfo().closeFrameReceived);
}

TEST_P(SidebandTest, HostDroppingTcpIsNoticed) {
    auto client = connect("rtc_1");
    auto session = sessionOf("rtc_1");
    client->drop();
    ASSERT_TRUE(session->waitForClose(2s));
    EXPECT_EQ(session->closeInfo().initiator, "host");
    EXPECT_FALSE(session->closeInfo().closeFrameReceived);
}

TEST_P(SidebandTest, RefusedConnections) {
    EXPECT_EQ(tryConnect(simulator_->port(), "rtc_1", ca(), "sk-wrong"), 401);
    simulator_->refuseSessions(true);
    EXPECT_EQ(tryConnect(simulator_->port(), "rtc_1", ca()), 403);
    simulator_->refuseSessions(false);
    CallScript refuse;
    refuse.connect = ConnectBehaviour::Refuse404;
    simulator_->setScript("rtc_404", refuse);
    EXPECT_EQ(tryConnect(simulator_->port(), "rtc_404", ca()), 404);
    EXPECT_EQ(rest("rtc_rejected", "reject").status, 200);
    EXPECT_EQ(tryConnect(simulator_->port(), "rtc_rejected", ca()), 404);
    EXPECT_EQ(tryConnect(simulator_->port(), "rtc_fine", ca()), 101);
    EXPECT_EQ(simulator_->refusedSessions(), 4u);
}

TEST_P(SidebandTest, CloseImmediatelyDropsAfterTheUpgrade) {
    CallScript script;
    script.connect = ConnectBehaviour::CloseImmediately;
    simulator_->setScript("rtc_drop", script);
    SidebandTestClient client(simulator_->port(), "rtc_drop", ca());
    EXPECT_TRUE(client.receiveFrame().closed);
}

TEST_P(SidebandTest, RestHangupAndReferEndTheSocket) {
    auto hungUp = connect("rtc_h");
    auto referred = connect("rtc_r");
    EXPECT_EQ(rest("rtc_h", "hangup").status, 200);
    EXPECT_EQ(hungUp->receiveFrame().opcode, Poco::Net::WebSocket::FRAME_OP_CLOSE);
    EXPECT_EQ(rest("rtc_r", "refer").status, 200);
    EXPECT_EQ(referred->receiveFrame().opcode, Poco::Net::WebSocket::FRAME_OP_CLOSE);
    EXPECT_EQ(sessionOf("rtc_r")->closeInfo().initiator, "rest");
}

TEST_P(SidebandTest, ScriptedCallRunsToItsHangup) {
    simulator_->setScript("rtc_s", parseCallScript(R"([
        {"say":"caller","text":"A cleaning next Tuesday, please"},
        {"function_call":{"name":"find_slots","arguments":{"date":"2026-12-01"}}},
        {"expect_output_contains":"slot"},
        {"unknown_event":"response.brand_new"},
        {"say":"agent","text":"Booked."},
        {"hangup":"caller","close_frame":false}])"));
    auto client = connect("rtc_s");
    client->send(R"({"type":"session.update","session":{"type":"realtime"}})");
    EXPECT_TRUE(client->receiveUntil("conversation.item.input_audio_transcription.completed"));
    const auto call = client->receiveUntil("response.function_call_arguments.done");
    ASSERT_TRUE(call);
    EXPECT_EQ(call->getValue<std::string>("name"), "find_slots");
    EXPECT_EQ(client->answerResponse(R"({"slots":["9am"]})"),
              std::vector<std::string>{call->getValue<std::string>("call_id")});
    EXPECT_TRUE(client->receiveUntil("response.brand_new"));
    EXPECT_TRUE(client->receiveUntil("response.output_audio_transcript.done"));
    // session.updated came in between somewhere; the socket then ends without a close frame.
    SidebandTestClient::Frame frame;
    do
        frame = client->receiveFrame();
    while (frame.opcode == Poco::Net::WebSocket::FRAME_OP_TEXT);
    EXPECT_TRUE(frame.closed);
    auto session = sessionOf("rtc_s");
    ASSERT_TRUE(session->waitForScript(2s));
    EXPECT_TRUE(session->failures().empty()) << session->failures().front();
}

TEST_P(SidebandTest, ScriptedOutputTimeoutIsReportedAndTheScriptGoesOn) {
    simulator_->setScript("rtc_t", parseCallScript(R"([
        {"function_call":{"name":"slow_tool","timeout_ms":200}},
        {"say":"agent","text":"still there?"}])"));
    auto client = connect("rtc_t");
    EXPECT_TRUE(client->receiveUntil("response.output_audio_transcript.done", 3s));
    auto session = sessionOf("rtc_t");
    ASSERT_TRUE(session->waitForScript(2s));
    ASSERT_EQ(session->failures().size(), 1u);
    EXPECT_NE(session->failures()[0].find("no function_call_output"), std::string::npos);
    EXPECT_EQ(simulator_->roundTripStats().timeouts, 1u);
}

TEST_P(SidebandTest, RepeatedFunctionCallsEachNeedAnOutput) {
    simulator_->setScript("rtc_loop", parseCallScript(R"([
        {"repeat":{"times":5,"steps":[{"function_call":{"name":"tick"}}]}},
        {"hangup":"caller"}])"));
    auto client = connect("rtc_loop");
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(client->answerResponse("ok", 15s).size(), 1u) << i; // roomy: sanitized, loaded runs
    EXPECT_EQ(client->receiveUntil("never", 3s), nullptr); // ends with the close frame
    EXPECT_EQ(simulator_->roundTripStats().count, 5u);
    EXPECT_EQ(simulator_->resumeStats().count, 5u);
    EXPECT_TRUE(sessionOf("rtc_loop")->failures().empty()) << sessionOf("rtc_loop")->failures().front();
}

INSTANTIATE_TEST_SUITE_P(Transports, SidebandTest, bothTransports(), transportName);

// Many established sockets are served by the reactor, not a thread each.
TEST(SidebandScale, ServesManyConcurrentTlsSessions) {
    SimulatorOptions options;
    options.tlsCert = TestCertificates::shared().certFile();
    options.tlsKey = TestCertificates::shared().keyFile();
    RealtimeSimulator simulator(options);
    simulator.start();
    constexpr int kSessions = 200;
    std::vector<std::unique_ptr<SidebandTestClient>> clients;
    for (int i = 0; i < kSessions; ++i) {
        clients.push_back(std::make_unique<SidebandTestClient>(simulator.port(), "rtc_" + std::to_string(i),
                                                               TestCertificates::shared().caFile(), ""));
        ASSERT_TRUE(clients.back()->receiveEvent());
    }
    EXPECT_EQ(simulator.openSessions(), static_cast<std::size_t>(kSessions));
    for (int round = 0; round < 2; ++round) {
        std::vector<std::string> callIds;
        for (int i = 0; i < kSessions; ++i)
            callIds.push_back(simulator.session("rtc_" + std::to_string(i))->sendFunctionCall("tick", "{}"));
        for (int i = 0; i < kSessions; ++i)
            EXPECT_EQ(clients[i]->answerResponse("ok"), std::vector<std::string>{callIds[i]});
        for (int i = 0; i < kSessions; ++i)
            EXPECT_TRUE(simulator.session("rtc_" + std::to_string(i))->waitForFunctionOutput(callIds[i], 5s));
    }
    EXPECT_EQ(simulator.roundTripStats().count, 2u * kSessions);
    EXPECT_TRUE(eventually([&] { return simulator.resumeStats().count == 2u * kSessions; }));
    EXPECT_EQ(simulator.turnStats().responseCreatesRefused, 0u);
    simulator.stop();
}

TEST(SidebandScale, WithoutTrafficRecordingTimingsAndTypesRemain) {
    SimulatorOptions options;
    options.recordTraffic = false;
    RealtimeSimulator simulator(options);
    simulator.start();
    SidebandTestClient client(simulator.port(), "rtc_quiet", "", "");
    ASSERT_TRUE(client.receiveEvent());
    auto session = simulator.waitForSession("rtc_quiet", 2s);
    ASSERT_TRUE(session);
    const auto callId = session->sendFunctionCall("tick", "{}");
    ASSERT_EQ(client.answerResponse("ok"), std::vector<std::string>{callId});
    EXPECT_EQ(session->waitForFunctionOutput(callId, 2s), std::optional<std::string>("ok"));
    ASSERT_TRUE(session->waitForEvent("response.create", 2s));
    EXPECT_EQ(session->receivedEvents()[0].type, "conversation.item.create");
    EXPECT_EQ(session->receivedEvents()[0].json, "");
    EXPECT_TRUE(session->sentEvents().empty());
    EXPECT_TRUE(session->trace().empty());
    EXPECT_EQ(simulator.roundTripStats().count, 1u);
}
