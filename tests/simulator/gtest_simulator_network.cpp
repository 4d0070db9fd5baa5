// A hostile network, played by the simulator for the host's tests: frames split into 1-byte writes,
// a connection that goes silent without FIN (black hole), and WebSocket pings in both directions.
#include "Eventually.h"
#include "RealtimeSimulator.h"
#include "ServerFrame.h"
#include "SidebandTestClient.h"
#include "TestCertificates.h"
#include "TransportMode.h"
#include "core/Json.h"

#include <Poco/JSON/Object.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <set>

using namespace sideband::simulator;
using namespace sideband::testing;
using namespace std::chrono_literals;
using Poco::Net::WebSocket;

namespace {

// Split frames take a millisecond per byte (a function call's three events ~1.5 s); roomy for
// sanitized runs on a loaded machine.
constexpr auto kPatience = 20s;

class NetworkTest : public ::testing::TestWithParam<TransportMode> {
protected:
    void start(SimulatorOptions options) {
        if (simulator_) simulator_->stop();
        if (GetParam().tls) {
            options.tlsCert = TestCertificates::shared().certFile();
            options.tlsKey = TestCertificates::shared().keyFile();
        }
        simulator_ = std::make_unique<RealtimeSimulator>(options);
        simulator_->start();
    }
    std::string ca() const { return GetParam().tls ? TestCertificates::shared().caFile() : ""; }

    // Connects as the host and consumes session.created.
    std::unique_ptr<SidebandTestClient> connect(const std::string& callId) {
        auto client = std::make_unique<SidebandTestClient>(simulator_->port(), callId, ca(), "");
        const auto created = client->receiveEvent(kPatience);
        EXPECT_TRUE(created && created->getValue<std::string>("type") == "session.created");
        return client;
    }
    std::shared_ptr<SimulatedSession> sessionOf(const std::string& callId) {
        auto session = simulator_->waitForSession(callId, 2s);
        EXPECT_TRUE(session);
        return session;
    }
    // The agent says `text` and the caller hangs up with `mode` at once; the event still arrives whole.
    std::unique_ptr<SidebandTestClient> sayAndHangUp(const std::string& callId, const std::string& text,
                                                     CloseMode mode) {
        auto client = connect(callId);
        auto session = sessionOf(callId);
        session->sendTranscript("agent", text);
        session->hangup(mode);
        const auto said = client->receiveEvent(kPatience);
        EXPECT_TRUE(said && said->getValue<std::string>("transcript") == text) << callId;
        return client;
    }

    std::unique_ptr<RealtimeSimulator> simulator_;
};

SimulatorOptions splitFrames(std::chrono::milliseconds delay = 1ms) {
    SimulatorOptions options;
    options.splitFrames = true;
    options.splitFrameDelay = delay;
    return options;
}

std::size_t encodedSize(const std::vector<std::string>& texts) {
    std::size_t bytes = 0;
    for (const auto& text : texts)
        bytes += encodeServerFrame(WebSocket::FRAME_OP_TEXT, text).size();
    return bytes;
}

} // namespace

// --- split frames ------------------------------------------------------------------------------------

TEST_P(NetworkTest, SplitFramesDeliverEveryEventIntactAndToolOutputsAreStillRead) {
    start(splitFrames());
    auto client = connect("rtc_split");
    auto session = sessionOf("rtc_split");
    client->send(R"({"type":"session.update","session":{"type":"realtime","instructions":"Be brief"}})");
    const auto callId = session->sendFunctionCall("get_order", R"({"order_id":"A7"})");

    std::vector<std::string> received;
    for (int i = 0; i < 5; ++i) { // session.updated and the function-call response's four events, in some order
        const auto frame = client->receiveFrame(kPatience);
        ASSERT_EQ(frame.opcode, WebSocket::FRAME_OP_TEXT) << i;
        received.push_back(frame.payload);
    }
    client->sendFunctionOutput(callId, R"({"status":"shipped"})"); // after response.done
    EXPECT_EQ(session->waitForFunctionOutput(callId, kPatience), std::optional<std::string>(R"({"status":"shipped"})"));
    ASSERT_TRUE(session->waitForEvent("response.create", kPatience));

    // Byte for byte what the simulator meant to send, every byte its own write.
    auto sent = session->sentEvents();
    ASSERT_GE(sent.size(), 6u); // session.created first; then the spoken response's events
    sent = std::vector<std::string>(sent.begin() + 1, sent.begin() + 6);
    EXPECT_EQ(received, sent);
    const auto stats = session->networkStats();
    EXPECT_TRUE(stats.splitFrames);
    EXPECT_TRUE(eventually(
        [&] {
            return !session->activeResponseId() &&
                   session->networkStats().splitWrites == encodedSize(session->sentEvents());
        },
        kPatience))
        << session->networkStats().splitWrites << " writes for " << encodedSize(session->sentEvents()) << " bytes";
    EXPECT_TRUE(session->failures().empty());
    EXPECT_EQ(session->turnStats().responseCreatesAccepted, 1u);
}

TEST_P(NetworkTest, ACallScriptTurnsSplitFramesOnForItsCallOnly) {
    start({});
    CallScript split;
    split.splitFrames = true;
    simulator_->setScript("rtc_split", split);
    auto splitClient = connect("rtc_split");
    auto wholeClient = connect("rtc_whole");
    auto splitSession = sessionOf("rtc_split");
    auto wholeSession = sessionOf("rtc_whole");
    EXPECT_TRUE(splitSession->networkStats().splitFrames);
    EXPECT_TRUE(eventually([&] { return splitSession->networkStats().splitWrites > 0; }));
    EXPECT_FALSE(wholeSession->networkStats().splitFrames);
    EXPECT_EQ(wholeSession->networkStats().splitWrites, 0u);
}

TEST_P(NetworkTest, SplitFramesStayWholeThroughHangups) {
    start(splitFrames());
    // A close frame queued behind an event goes out after it, and the handshake completes.
    auto polite = sayAndHangUp("rtc_polite", "Goodbye.", CloseMode::CloseFrame);
    const auto close = polite->receiveFrame(kPatience);
    EXPECT_EQ(close.opcode, WebSocket::FRAME_OP_CLOSE);
    EXPECT_EQ(close.payload, closeFramePayload(WebSocket::WS_NORMAL_CLOSE, "call ended"));
    polite->close();
    auto politeSession = sessionOf("rtc_polite");
    ASSERT_TRUE(politeSession->waitForClose(kPatience));
    EXPECT_TRUE(politeSession->closeInfo().closeFrameReceived);

    // An abrupt hang-up still lets the queued event out whole before TCP closes.
    auto abrupt = sayAndHangUp("rtc_abrupt", "Bye now.", CloseMode::Abrupt);
    EXPECT_TRUE(abrupt->receiveFrame(kPatience).closed);
}

// Plain TCP, so the test can read the socket under its WebSocket and see how the bytes arrive.
TEST(SplitFramesOnTheWire, AFrameArrivesInManySmallReadsAsAValidServerFrame) {
    RealtimeSimulator simulator(splitFrames(2ms));
    simulator.start();
    SidebandTestClient client(simulator.port(), "rtc_wire", "", "");
    ASSERT_TRUE(client.receiveEvent(kPatience)); // session.created, decoded whole by Poco
    auto session = simulator.waitForSession("rtc_wire", 2s);
    ASSERT_TRUE(session);
    const std::string event = R"({"type":"response.output_audio_transcript.done","transcript":"one byte at a time"})";
    session->sendRaw(event);

    const int fd = client.socket().impl()->sockfd();
    const auto expected = encodeServerFrame(WebSocket::FRAME_OP_TEXT, event);
    std::string received;
    int reads = 0;
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (received.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
        pollfd readable{fd, POLLIN, 0};
        if (::poll(&readable, 1, 100) <= 0) continue;
        char chunk[4096];
        const auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        received.append(chunk, static_cast<std::size_t>(n));
        ++reads;
    }
    EXPECT_EQ(received, expected);
    ASSERT_GE(received.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(received[0]), 0x81);      // FIN, text
    EXPECT_EQ(static_cast<unsigned char>(received[1]) & 0x80, 0u); // a server frame is not masked
    EXPECT_GT(reads, 1) << "the frame arrived in one read";
}

TEST(SplitFramesOnTheWire, AFrameWithA64BitLengthIsDecodedByPoco) {
    RealtimeSimulator simulator(splitFrames(0ms));
    simulator.start();
    SidebandTestClient client(simulator.port(), "rtc_big", "", "");
    ASSERT_TRUE(client.receiveEvent(kPatience));
    auto session = simulator.waitForSession("rtc_big", 2s);
    ASSERT_TRUE(session);
    const std::string transcript(66000, 'a'); // the frame needs the 64-bit length form
    session->sendTranscript("agent", transcript);
    const auto event = client.receiveEvent(kPatience);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->getValue<std::string>("transcript"), transcript);
}

TEST(ServerFrame, UsesTheShortestLengthFormAndNoMask) {
    const std::vector<std::pair<std::size_t, std::string>> cases = {
        {0, std::string("\x81\x00", 2)},
        {125, "\x81\x7d"},
        {126, std::string("\x81\x7e\x00\x7e", 4)},
        {65535, "\x81\x7e\xff\xff"},
        {65536, std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10)},
    };
    for (const auto& [size, header] : cases) {
        const auto frame = encodeServerFrame(WebSocket::FRAME_OP_TEXT, std::string(size, 'x'));
        EXPECT_EQ(frame.substr(0, header.size()), header) << size;
        EXPECT_EQ(frame.size(), header.size() + size) << size;
    }
    EXPECT_EQ(encodeServerFrame(WebSocket::FRAME_OP_PING, "p"), "\x89\x01p");
    EXPECT_EQ(closeFramePayload(1000, "bye"), "\x03\xe8"
                                              "bye");
}

// --- pings -------------------------------------------------------------------------------------------

TEST_P(NetworkTest, PingsGoOutAtTheIntervalAndPongsAreCounted) {
    SimulatorOptions options;
    options.pingInterval = 50ms;
    start(options);
    auto client = connect("rtc_ping");
    std::set<std::string> payloads;
    while (payloads.size() < 3) {
        const auto frame = client->receiveFrame(kPatience);
        ASSERT_EQ(frame.opcode, WebSocket::FRAME_OP_PING);
        EXPECT_FALSE(frame.payload.empty());
        payloads.insert(frame.payload);
        client->pong(frame.payload);
    }
    EXPECT_TRUE(eventually([&] { return simulator_->pongsReceived("rtc_ping") >= 3; }));
    EXPECT_GE(sessionOf("rtc_ping")->networkStats().pingsSent, 3u);
    EXPECT_EQ(simulator_->pongsReceived("rtc_unknown"), 0u);
}

TEST_P(NetworkTest, AHostPingIsAnsweredWithThePayloadItCarried) {
    for (const bool split : {false, true}) {
        SCOPED_TRACE(split ? "split frames" : "whole frames");
        start(split ? splitFrames() : SimulatorOptions{});
        auto client = connect("rtc_hostping");
        auto session = sessionOf("rtc_hostping");
        // Split frames: the PONG queues behind the events already on their way, never inside one.
        // (response.done follows 20 ms later: before or after the PONG.)
        const auto callId = session->sendFunctionCall("tick", "{}");
        client->ping("are you there? 42");
        std::vector<std::string> types;
        std::vector<std::string> pongs;
        while (types.size() < 4 || pongs.empty()) {
            const auto frame = client->receiveFrame(kPatience);
            if (frame.opcode == WebSocket::FRAME_OP_PONG) {
                pongs.push_back(frame.payload);
                continue;
            }
            ASSERT_EQ(frame.opcode, WebSocket::FRAME_OP_TEXT)
                << types.size() << " events, " << pongs.size() << " pongs";
            types.push_back(
                sideband::json::parse(frame.payload).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("type"));
        }
        EXPECT_EQ(types, (std::vector<std::string>{"response.created", "response.function_call_arguments.done",
                                                   "response.output_item.done", "response.done"}));
        EXPECT_EQ(pongs, std::vector<std::string>{"are you there? 42"});
        EXPECT_TRUE(eventually([&] { return simulator_->pingsReceived("rtc_hostping") == 1; }));
        client->sendFunctionOutput(callId, "ok");
        EXPECT_TRUE(session->waitForFunctionOutput(callId, kPatience));
    }
}

// --- black hole --------------------------------------------------------------------------------------

TEST_P(NetworkTest, ABlackHoledSessionGoesSilentButKeepsTheConnectionOpen) {
    SimulatorOptions options;
    options.pingInterval = 50ms;
    start(options);
    auto client = connect("rtc_bh");
    auto session = sessionOf("rtc_bh");
    const auto ping = client->receiveFrame(kPatience); // pings flow before
    ASSERT_EQ(ping.opcode, WebSocket::FRAME_OP_PING);
    client->pong(ping.payload);

    ASSERT_TRUE(simulator_->blackHole("rtc_bh"));
    const auto pingsBefore = session->networkStats().pingsSent;
    client->send(R"({"type":"session.update","session":{"type":"realtime"}})");
    client->ping("anyone?");
    session->sendTranscript("agent", "lost on the way");

    // A ping written before the black hole may still arrive; then nothing, and no EOF either.
    auto frame = client->receiveFrame(1500ms);
    for (int i = 0; i < 3 && frame.opcode == WebSocket::FRAME_OP_PING; ++i)
        frame = client->receiveFrame(1500ms);
    EXPECT_EQ(frame.opcode, -1) << "a frame after the black hole: " << frame.payload;
    EXPECT_FALSE(frame.closed) << "the connection must stay open";

    const auto stats = session->networkStats();
    EXPECT_TRUE(stats.blackHoled);
    EXPECT_TRUE(session->isBlackHoled());
    EXPECT_TRUE(session->isConnected());
    EXPECT_EQ(stats.pingsSent, pingsBefore);
    EXPECT_EQ(stats.pingsReceived, 0u); // the host's PING was never read
    EXPECT_EQ(stats.swallowedEvents, 1u);
    EXPECT_FALSE(session->waitForEvent("session.update", 100ms));
    EXPECT_FALSE(simulator_->blackHole("rtc_unknown"));

    // The host gives up and closes: the simulator sees it without reading and lets the socket go.
    client->drop();
    ASSERT_TRUE(session->waitForClose(kPatience));
    EXPECT_EQ(session->closeInfo().initiator, "host");
    EXPECT_EQ(session->closeInfo().reason, "host closed the black-holed connection");
}

TEST_P(NetworkTest, ABlackHoleStepEndsTheScriptAndStopReleasesTheSocket) {
    start({});
    simulator_->setScript("rtc_step", parseCallScript(R"([
        {"say":"agent","text":"One moment."},
        {"black_hole":true},
        {"say":"agent","text":"never heard"}])"));
    auto client = connect("rtc_step");
    const auto said = client->receiveEvent(kPatience);
    ASSERT_TRUE(said);
    EXPECT_EQ(said->getValue<std::string>("transcript"), "One moment.");
    auto session = sessionOf("rtc_step");
    ASSERT_TRUE(session->waitForScript(kPatience));
    EXPECT_TRUE(session->isBlackHoled());
    EXPECT_TRUE(session->failures().empty());
    session->hangup(CloseMode::CloseFrame); // dropped: nothing reaches the host through a black hole

    const auto silence = client->receiveFrame(1000ms);
    EXPECT_EQ(silence.opcode, -1);
    EXPECT_FALSE(silence.closed);
    EXPECT_TRUE(session->isConnected());

    simulator_->stop();
    EXPECT_TRUE(client->receiveFrame(kPatience).closed);
    EXPECT_EQ(session->closeInfo().initiator, "simulator");
}

INSTANTIATE_TEST_SUITE_P(Transports, NetworkTest, bothTransports(), transportName);
