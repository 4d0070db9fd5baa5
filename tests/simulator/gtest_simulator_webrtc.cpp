// WebRTC calls at the simulator: POST /v1/realtime/calls (multipart sdp + session) answered 201 with
// an SDP answer for a Chromium offer and a Location naming the call, which is then served on the
// sideband like a SIP call; the create's faults, refusals and recording.
#include "RealtimeSimulator.h"
#include "SdpAnswer.h"
#include "SidebandTestClient.h"
#include "core/Json.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StringPartSource.h>
#include <Poco/StreamCopier.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

using namespace sideband::simulator;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

// fixtures/chromium-offer.sdp: what Chromium 156 (Debian 12) createOffer() returned for an
// RTCPeerConnection with an audio transceiver and a data channel; that Chromium's
// setRemoteDescription accepted the simulator's answer to it.
std::string chromiumOffer() {
    std::ifstream in(SIMULATOR_FIXTURES_DIR "/chromium-offer.sdp", std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

const std::string kSession = R"({"type":"realtime","model":"gpt-realtime","instructions":"Help with bookings.",)"
                             R"("tools":[{"type":"function","name":"find_slots","parameters":{"type":"object"}}],)"
                             R"("audio":{"output":{"voice":"marin"}}})";

struct Answer {
    int status = 0;
    std::string contentType;
    std::string location;
    std::string body;
};

struct Form {
    std::string contentType;
    std::string body;
};

// A multipart/form-data body as the host's client builds it; `asFiles`: each part with a filename,
// as `curl -F sdp=@offer.sdp` sends it.
Form multipart(const std::vector<std::pair<std::string, std::string>>& parts, bool asFiles = false) {
    Poco::Net::HTMLForm form(Poco::Net::HTMLForm::ENCODING_MULTIPART);
    for (const auto& [name, value] : parts)
        form.addPart(name, asFiles ? new Poco::Net::StringPartSource(value, "text/plain", name + ".txt")
                                   : new Poco::Net::StringPartSource(value, "text/plain"));
    Poco::Net::HTTPRequest prototype(Poco::Net::HTTPRequest::HTTP_POST, "/", Poco::Net::HTTPMessage::HTTP_1_1);
    form.prepareSubmit(prototype);
    std::ostringstream body;
    form.write(body);
    return {prototype.getContentType(), body.str()};
}

// The answer's lines (split at CRLF; a bare LF stays inside a line, where the test sees it).
std::vector<std::string> sdpLines(const std::string& sdp) {
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < sdp.size();) {
        const auto end = sdp.find("\r\n", at);
        if (end == std::string::npos) {
            lines.push_back(sdp.substr(at));
            break;
        }
        lines.push_back(sdp.substr(at, end - at));
        at = end + 2;
    }
    return lines;
}

// The lines of the answer's m-section `index` (0-based), its m-line first.
std::vector<std::string> section(const std::vector<std::string>& lines, std::size_t index) {
    std::vector<std::string> out;
    std::size_t seen = 0;
    for (const auto& line : lines) {
        if (line.rfind("m=", 0) == 0) ++seen;
        if (seen == index + 1) out.push_back(line);
    }
    return out;
}

std::string value(const std::vector<std::string>& lines, const std::string& prefix) {
    for (const auto& line : lines)
        if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    return {};
}

class SimulatorWebrtcTest : public ::testing::Test {
protected:
    SimulatorWebrtcTest() { start({}); }

    void start(SimulatorOptions options) {
        if (simulator_) simulator_->stop();
        options.expectedApiKey = "sk-test";
        options.responseDoneDelay = 5ms;
        simulator_ = std::make_unique<RealtimeSimulator>(options);
        simulator_->start();
    }

    Answer post(const std::string& contentType, const std::string& body, const std::string& apiKey = "sk-test") {
        Poco::Net::HTTPClientSession session("127.0.0.1", simulator_->port());
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/v1/realtime/calls",
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        if (!apiKey.empty()) request.set("Authorization", "Bearer " + apiKey);
        request.set("Idempotency-Key", "create_test_1");
        request.setContentType(contentType);
        request.setContentLength64(static_cast<Poco::Int64>(body.size()));
        session.sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        Answer answer;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), answer.body);
        answer.status = response.getStatus();
        answer.contentType = response.getContentType();
        answer.location = response.get("Location", "");
        return answer;
    }
    Answer create(const std::string& sdp, const std::string& session = kSession) {
        const auto form = multipart({{"sdp", sdp}, {"session", session}});
        return post(form.contentType, form.body);
    }
    static std::string callIdOf(const Answer& answer) { return answer.location.substr(answer.location.rfind('/') + 1); }

    // A refused create: its status, an OpenAI-shaped error whose message contains `message`, recorded.
    void expectRefused(const Answer& answer, int status, const std::string& message) {
        EXPECT_EQ(answer.status, status) << answer.body;
        EXPECT_TRUE(answer.location.empty());
        const auto parsed = sideband::json::parse(answer.body);
        ASSERT_EQ(parsed.type(), typeid(Poco::JSON::Object::Ptr)) << answer.body;
        const auto error = parsed.extract<Poco::JSON::Object::Ptr>()->getObject("error");
        ASSERT_TRUE(error) << answer.body;
        EXPECT_THAT(error->getValue<std::string>("message"), HasSubstr(message));
        EXPECT_TRUE(error->has("type"));
        EXPECT_TRUE(error->has("code"));
        const auto recorded = simulator_->createRequests();
        ASSERT_FALSE(recorded.empty());
        EXPECT_EQ(recorded.back().status, status);
        EXPECT_TRUE(recorded.back().callId.empty());
    }

    std::unique_ptr<SidebandTestClient> connect(const std::string& callId, Poco::JSON::Object::Ptr* created = nullptr) {
        auto client = std::make_unique<SidebandTestClient>(simulator_->port(), callId, "");
        auto event = client->receiveEvent();
        EXPECT_TRUE(event);
        if (event) {
            EXPECT_EQ(event->getValue<std::string>("type"), "session.created");
        }
        if (created) *created = event;
        return client;
    }

    std::unique_ptr<RealtimeSimulator> simulator_;
};

} // namespace

TEST_F(SimulatorWebrtcTest, ACreateIsAnswered201WithLocationAndAnAnswerForAChromiumOffer) {
    const auto offer = chromiumOffer();
    ASSERT_THAT(offer, HasSubstr("m=application 9 UDP/DTLS/SCTP webrtc-datachannel")) << "the fixture is missing";
    const auto answer = create(offer);
    ASSERT_EQ(answer.status, 201) << answer.body;
    EXPECT_EQ(answer.contentType, "application/sdp");
    EXPECT_TRUE(std::regex_match(answer.location, std::regex("/v1/realtime/calls/rtc_[0-9a-f]{24}")))
        << answer.location;

    // Structure: CRLF lines, session level, then the offer's two m-lines in order.
    const auto& sdp = answer.body;
    ASSERT_GE(sdp.size(), 2u);
    EXPECT_EQ(sdp.substr(sdp.size() - 2), "\r\n");
    const auto lines = sdpLines(sdp.substr(0, sdp.size() - 2));
    for (const auto& line : lines)
        EXPECT_EQ(line.find('\n'), std::string::npos) << "a bare LF in: " << line;
    ASSERT_GE(lines.size(), 4u);
    EXPECT_EQ(lines[0], "v=0");
    EXPECT_TRUE(std::regex_match(lines[1], std::regex("o=- [0-9]+ 2 IN IP4 127\\.0\\.0\\.1"))) << lines[1];
    EXPECT_EQ(value(lines, "a=group:BUNDLE "), "0 1");
    EXPECT_THAT(lines, ::testing::Contains("a=msid-semantic: WMS"));

    const auto audio = section(lines, 0);
    const auto data = section(lines, 1);
    ASSERT_FALSE(audio.empty());
    ASSERT_FALSE(data.empty());
    EXPECT_TRUE(section(lines, 2).empty());
    EXPECT_EQ(audio[0], "m=audio 9 UDP/TLS/RTP/SAVPF 111");
    EXPECT_EQ(data[0], "m=application 9 UDP/DTLS/SCTP webrtc-datachannel");
    const std::regex fingerprint("sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}");
    for (const auto* media : {&audio, &data}) {
        EXPECT_THAT(*media, ::testing::Contains("c=IN IP4 0.0.0.0"));
        EXPECT_THAT(*media, ::testing::Contains("a=setup:passive"));
        EXPECT_TRUE(std::regex_match(value(*media, "a=fingerprint:"), fingerprint)) << value(*media, "a=fingerprint:");
        EXPECT_GE(value(*media, "a=ice-ufrag:").size(), 4u);
        EXPECT_GE(value(*media, "a=ice-pwd:").size(), 22u);
        EXPECT_NE(value(*media, "a=ice-ufrag:"), value(sdpLines(offer), "a=ice-ufrag:")) << "fresh, not the offer's";
    }
    EXPECT_EQ(value(audio, "a=mid:"), "0");
    EXPECT_EQ(value(data, "a=mid:"), "1");
    EXPECT_THAT(audio, ::testing::Contains("a=sendrecv"));
    EXPECT_THAT(audio, ::testing::Contains("a=rtcp-mux"));
    EXPECT_THAT(audio, ::testing::Contains("a=rtpmap:111 opus/48000/2"));
    EXPECT_THAT(audio, ::testing::Contains("a=fmtp:111 minptime=10;useinbandfec=1"));
    EXPECT_THAT(data, ::testing::Contains("a=sctp-port:5000"));
    EXPECT_FALSE(value(data, "a=max-message-size:").empty());

    // Recorded as the host sent it.
    const auto recorded = simulator_->createRequests();
    ASSERT_EQ(recorded.size(), 1u);
    EXPECT_EQ(recorded[0].action, "create");
    EXPECT_EQ(recorded[0].path, "/v1/realtime/calls");
    EXPECT_EQ(recorded[0].sdp, offer);
    EXPECT_EQ(recorded[0].session, kSession);
    EXPECT_EQ(recorded[0].authorization, "Bearer sk-test");
    EXPECT_EQ(recorded[0].idempotencyKey, "create_test_1");
    EXPECT_EQ(recorded[0].status, 201);
    EXPECT_EQ(recorded[0].callId, callIdOf(answer));
    EXPECT_EQ(recorded[0].sdpAnswer, answer.body);
}

TEST_F(SimulatorWebrtcTest, WhatTheAnswerCannotTakeIsRejectedWithPortZeroAndDirectionsAreMirrored) {
    auto offer = chromiumOffer();
    offer.replace(offer.find("a=sendrecv"), 10, "a=sendonly");
    offer.replace(offer.find("a=group:BUNDLE 0 1"), 18, "a=group:BUNDLE 0 1 2");
    offer += "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=setup:actpass\r\n"
             "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n";
    const auto answer = create(offer);
    ASSERT_EQ(answer.status, 201) << answer.body;
    const auto lines = sdpLines(answer.body);
    EXPECT_THAT(section(lines, 0), ::testing::Contains("a=recvonly"));
    const auto video = section(lines, 2);
    ASSERT_FALSE(video.empty());
    EXPECT_EQ(video[0], "m=video 0 UDP/TLS/RTP/SAVPF 96 97");
    EXPECT_EQ(value(video, "a=mid:"), "2");
    EXPECT_EQ(value(lines, "a=group:BUNDLE "), "0 1") << "a rejected m-line is not bundled";
}

TEST_F(SimulatorWebrtcTest, PartsSentAsFilesAreReadToo) {
    const auto form = multipart({{"sdp", chromiumOffer()}, {"session", kSession}}, /*asFiles=*/true);
    const auto answer = post(form.contentType, form.body);
    ASSERT_EQ(answer.status, 201) << answer.body;
    EXPECT_EQ(simulator_->createRequests().at(0).session, kSession);
}

TEST_F(SimulatorWebrtcTest, ABodyThatIsNotMultipartIsRefused400) {
    expectRefused(post("application/sdp", chromiumOffer()), 400, "multipart/form-data");
    const auto form = multipart({{"sdp", chromiumOffer()}, {"session", kSession}});
    // Cut before its closing boundary.
    expectRefused(post(form.contentType, form.body.substr(0, form.body.size() / 2)), 400,
                  "not valid multipart/form-data");
}

TEST_F(SimulatorWebrtcTest, AnOfferThatIsNotSdpIsRefused400) {
    const auto sessionOnly = multipart({{"session", kSession}});
    expectRefused(post(sessionOnly.contentType, sessionOnly.body), 400, "missing the sdp part");
    expectRefused(create("hello, I am an offer"), 400, "not SDP");
    expectRefused(create("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"), 400, "no m-line");
    expectRefused(create(chromiumOffer() + std::string(kMaxSdpOffer, 'a')), 400, "larger than 64 KiB");
    EXPECT_TRUE(simulator_->sessions().empty());
}

TEST_F(SimulatorWebrtcTest, ABadSessionIsRefused400) {
    const auto form = multipart({{"sdp", chromiumOffer()}});
    expectRefused(post(form.contentType, form.body), 400, "missing the session part");
    expectRefused(create(chromiumOffer(), "not json"), 400, "not a JSON object");
    expectRefused(create(chromiumOffer(), "[1,2]"), 400, "not a JSON object");
    expectRefused(create(chromiumOffer(), R"({"model":"gpt-realtime"})"), 400, R"(lacks "type":"realtime")");
}

TEST_F(SimulatorWebrtcTest, AWrongOrMissingKeyIsRefused401) {
    const auto form = multipart({{"sdp", chromiumOffer()}, {"session", kSession}});
    expectRefused(post(form.contentType, form.body, "sk-wrong"), 401, "Incorrect API key");
    expectRefused(post(form.contentType, form.body, ""), 401, "Incorrect API key");
    EXPECT_EQ(simulator_->createRequests().at(0).authorization, "Bearer sk-wrong");
}

TEST_F(SimulatorWebrtcTest, TheCreatedCallIsServedOnTheSidebandWithTheDefaultScript) {
    const auto answer = create(chromiumOffer());
    ASSERT_EQ(answer.status, 201);
    const auto callId = callIdOf(answer);
    Poco::JSON::Object::Ptr created;
    auto host = connect(callId, &created);
    ASSERT_TRUE(created);
    // session.created carries the session the create gave.
    const auto session = created->getObject("session");
    ASSERT_TRUE(session);
    EXPECT_EQ(session->getValue<std::string>("instructions"), "Help with bookings.");
    ASSERT_TRUE(session->getArray("tools"));
    EXPECT_EQ(session->getArray("tools")->getObject(0)->getValue<std::string>("name"), "find_slots");

    // The agent greets, the caller asks, the model calls the first tool once.
    const auto greeting = host->receiveUntil("response.output_audio_transcript.done");
    ASSERT_TRUE(greeting);
    EXPECT_THAT(greeting->getValue<std::string>("transcript"), HasSubstr("Hello"));
    const auto answered = host->answerResponse(R"({"slots":["09:00"]})");
    ASSERT_EQ(answered.size(), 1u);
    const auto simulated = simulator_->waitForSession(callId, 2s);
    ASSERT_TRUE(simulated);
    ASSERT_TRUE(simulated->waitForScript(5s));
    ASSERT_EQ(simulated->functionCalls().size(), 1u);
    EXPECT_EQ(simulated->functionCalls()[0].name, "find_slots");
    EXPECT_EQ(simulated->functionCalls()[0].output, R"({"slots":["09:00"]})");
    EXPECT_TRUE(simulated->failures().empty()) << simulated->failures().front();

    // The call waits for the host; its REST hangup ends it like a SIP call's.
    EXPECT_TRUE(simulated->isConnected());
    Poco::Net::HTTPClientSession rest("127.0.0.1", simulator_->port());
    Poco::Net::HTTPRequest hangup(Poco::Net::HTTPRequest::HTTP_POST, "/v1/realtime/calls/" + callId + "/hangup",
                                  Poco::Net::HTTPMessage::HTTP_1_1);
    hangup.set("Authorization", "Bearer sk-test");
    hangup.setContentLength(2);
    rest.sendRequest(hangup) << "{}";
    Poco::Net::HTTPResponse response;
    rest.receiveResponse(response);
    EXPECT_EQ(response.getStatus(), 200);
    ASSERT_TRUE(simulated->waitForClose(5s));
    EXPECT_EQ(simulated->closeInfo().initiator, "rest");
    EXPECT_EQ(sideband::testing::tryConnect(simulator_->port(), callId, ""), 404) << "an ended call stays ended";
}

TEST_F(SimulatorWebrtcTest, WithoutToolsTheDefaultScriptOnlyGreets) {
    const auto answer = create(chromiumOffer(), R"({"type":"realtime","instructions":"Chat."})");
    ASSERT_EQ(answer.status, 201);
    auto host = connect(callIdOf(answer));
    const auto simulated = simulator_->waitForSession(callIdOf(answer), 2s);
    ASSERT_TRUE(simulated);
    ASSERT_TRUE(simulated->waitForScript(5s));
    EXPECT_TRUE(simulated->functionCalls().empty());
    EXPECT_TRUE(simulated->isConnected());
}

TEST_F(SimulatorWebrtcTest, ATestChoosesTheScriptOfCreatedCalls) {
    auto options = SimulatorOptions{};
    options.createdCallScript = std::make_shared<const CallScript>(
        parseCallScript(R"([{"function_call":{"name":"from_the_option","arguments":{"a":1}}}])"));
    start(options);
    auto first = create(chromiumOffer());
    ASSERT_EQ(first.status, 201);
    auto host = connect(callIdOf(first));
    ASSERT_EQ(host->answerResponse("done").size(), 1u);
    auto session = simulator_->waitForSession(callIdOf(first), 2s);
    ASSERT_TRUE(session && session->waitForScript(5s));
    EXPECT_EQ(session->functionCalls().at(0).name, "from_the_option");
    EXPECT_EQ(session->functionCalls().at(0).arguments, R"({"a":1})");

    simulator_->setCreatedCallScript(std::make_shared<const CallScript>(
        parseCallScript(R"([{"say":"caller","text":"set at run time"},{"hangup":"caller"}])")));
    auto second = create(chromiumOffer());
    ASSERT_EQ(second.status, 201);
    auto other = connect(callIdOf(second));
    const auto said = other->receiveUntil("conversation.item.input_audio_transcription.completed");
    ASSERT_TRUE(said);
    EXPECT_EQ(said->getValue<std::string>("transcript"), "set at run time");
    session = simulator_->waitForSession(callIdOf(second), 2s);
    ASSERT_TRUE(session && session->waitForClose(5s));
    EXPECT_EQ(session->closeInfo().initiator, "simulator");
}

TEST_F(SimulatorWebrtcTest, ScriptedCreateFaultsAreAnsweredAsScripted) {
    simulator_->failNext("create", 500, 1);
    simulator_->failNext("create", 401, 1);
    simulator_->failNext("create", 400, 1, {},
                         R"({"error":{"message":"Bad offer","type":"invalid_request_error",)"
                         R"("code":"invalid_offer","param":"sdp"}})");
    expectRefused(create(chromiumOffer()), 500, "Simulated failure 500");
    expectRefused(create(chromiumOffer()), 401, "Incorrect API key provided");
    expectRefused(create(chromiumOffer()), 400, "Bad offer");
    EXPECT_EQ(create(chromiumOffer()).status, 201) << "the faults are spent";

    simulator_->delayNext("create", 300ms, 1);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(create(chromiumOffer()).status, 201);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    EXPECT_EQ(simulator_->createRequests().size(), 5u);
    EXPECT_EQ(simulator_->restRequests().size(), 5u);
}

TEST(CreatedCallScriptTest, AScriptFileIsAStepsArrayOrAnObjectWithFaults) {
    const auto steps = parseCreatedCallScript(R"([{"say":"agent","text":"Hi"}])");
    ASSERT_TRUE(steps.script);
    EXPECT_EQ(steps.script->steps.size(), 1u);
    EXPECT_TRUE(steps.restFaults.empty());

    const auto object = parseCreatedCallScript(
        R"({"description":"a slow start","connect":"refuse_403","steps":[{"wait_ms":10}],)"
        R"("rest_faults":[{"action":"create","status":500},{"action":"create","delay_ms":3000}]})");
    EXPECT_EQ(object.script->connect, ConnectBehaviour::Refuse403);
    ASSERT_EQ(object.restFaults.size(), 2u);
    EXPECT_EQ(object.restFaults[0].action, "create");
    EXPECT_EQ(object.restFaults[0].status, 500);
    EXPECT_EQ(object.restFaults[1].delay, 3000ms);

    try {
        parseCreatedCallScript(R"({"call_id":"rtc_1","steps":[]})");
        FAIL() << "an unknown key must be refused";
    } catch (const ScenarioError& e) {
        EXPECT_STREQ(e.what(), "script.call_id: unknown field");
    }
}

TEST(CreatedCallScriptTest, TheDefaultScriptCallsTheFirstNamedTool) {
    const auto script = defaultCreatedCallScript(
        R"({"type":"realtime","tools":[{"type":"mcp"},{"type":"function","name":"second"},{"name":"third"}]})");
    ASSERT_EQ(script.steps.size(), 3u);
    EXPECT_EQ(script.steps[0].kind, Step::Kind::Say);
    EXPECT_EQ(script.steps[2].kind, Step::Kind::FunctionCall);
    EXPECT_EQ(script.steps[2].name, "second");
    EXPECT_EQ(defaultCreatedCallScript("not json").steps.size(), 1u);
}
