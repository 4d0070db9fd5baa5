// OpenAIRestClient's connection reuse against a scripted HTTP server on 127.0.0.1: a kept-alive
// connection the server has closed must cost neither a retry nor a backoff, and only a reused
// connection earns the free resend.
#include "openai/OpenAIRestClient.h"

#include "metrics/SidebandMetrics.h"

#include "Eventually.h"
#include "RealtimeSimulator.h"
#include "TestCertificates.h"

#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

using namespace sideband;
using namespace std::chrono_literals;

namespace {

// Serves one connection at a time (the client under test sends one request at a time).
class ScriptedServer {
public:
    enum class Behaviour {
        AnswerThenClose,   // answers with keep-alive headers, then closes the connection
        DropSecondRequest, // answers a connection's first request, closes on its second unanswered
        DropEveryRequest,  // reads each request and closes without an answer
        Scripted,          // answers each request with the next scripted answer (then 500s)
    };

    explicit ScriptedServer(Behaviour behaviour, std::vector<std::string> answers = {})
        : behaviour_(behaviour), answers_(std::move(answers)), socket_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
        thread_ = std::thread([this] { serve(); });
    }
    ~ScriptedServer() {
        running_ = false;
        thread_.join();
    }

    std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()) + "/v1"; }
    int connections() const { return connections_; }
    int answered() const { return answered_; }
    int dropped() const { return dropped_; }
    int closed() const { return closed_; }
    // Every request read so far, raw (request line, headers, body).
    std::vector<std::string> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    void serve() {
        while (running_) {
            if (!socket_.poll(Poco::Timespan(20 * 1000), Poco::Net::Socket::SELECT_READ)) continue;
            Poco::Net::StreamSocket connection = socket_.acceptConnection();
            ++connections_;
            for (int request = 1; running_ && readRequest(connection); ++request) {
                const bool drop = behaviour_ == Behaviour::DropEveryRequest ||
                                  (behaviour_ == Behaviour::DropSecondRequest && request == 2);
                if (drop) {
                    ++dropped_;
                    break;
                }
                std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                                     "Connection: keep-alive\r\n\r\n{}";
                if (behaviour_ == Behaviour::Scripted) {
                    const auto next = static_cast<std::size_t>(answered_);
                    answer = next < answers_.size() ? answers_[next]
                                                    : "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
                }
                ++answered_; // before the send: the client may check the count as soon as it has the answer
                connection.sendBytes(answer.data(), static_cast<int>(answer.size()));
                if (behaviour_ == Behaviour::AnswerThenClose || behaviour_ == Behaviour::Scripted) break;
            }
            connection.close();
            ++closed_;
        }
    }

    // Headers and a Content-Length body; false when the peer closed or went quiet.
    bool readRequest(Poco::Net::StreamSocket& connection) {
        std::string data;
        char buffer[4096];
        std::size_t need = std::string::npos;
        while (running_) {
            if (need != std::string::npos && data.size() >= need) {
                std::lock_guard lock(mutex_);
                requests_.push_back(data);
                return true;
            }
            if (!connection.poll(Poco::Timespan(20 * 1000), Poco::Net::Socket::SELECT_READ)) continue;
            const int n = connection.receiveBytes(buffer, sizeof buffer);
            if (n <= 0) return false;
            data.append(buffer, static_cast<std::size_t>(n));
            const auto end = data.find("\r\n\r\n");
            if (need == std::string::npos && end != std::string::npos) {
                const auto at = data.find("Content-Length: ");
                const auto length = at == std::string::npos ? 0 : std::stoul(data.substr(at + 16));
                need = end + 4 + length;
            }
        }
        return false;
    }

    const Behaviour behaviour_;
    const std::vector<std::string> answers_;
    mutable std::mutex mutex_;
    std::vector<std::string> requests_;
    Poco::Net::ServerSocket socket_;
    std::atomic<bool> running_{true};
    std::atomic<int> connections_{0}, answered_{0}, dropped_{0}, closed_{0};
    std::thread thread_;
};

openai::RestClientOptions noRetries(const ScriptedServer& server) {
    openai::RestClientOptions options;
    options.baseUrl = server.baseUrl();
    options.apiKey = "sk-test";
    options.retries = 0;     // any success below is not a retry
    options.backoff = 10min; // a backoff taken would stall the test, not pass it
    options.totalTimeout = 5000ms;
    return options;
}

} // namespace

TEST(OpenAIRestClientTest, AConnectionTheServerClosedWhileIdleIsNotReused) {
    ScriptedServer server(ScriptedServer::Behaviour::AnswerThenClose);
    openai::OpenAIRestClient client(noRetries(server));
    for (int call = 1; call <= 3; ++call) {
        const auto result = client.accept("rtc_" + std::to_string(call), "{}", "accept_wh_" + std::to_string(call));
        EXPECT_TRUE(result.ok()) << result.error;
        EXPECT_EQ(result.attempts, 1);
        ASSERT_TRUE(sideband::testing::eventually([&] { return server.closed() == call; }));
    }
    EXPECT_EQ(server.connections(), 3);
    EXPECT_EQ(server.answered(), 3);
    EXPECT_EQ(server.dropped(), 0);
}

TEST(OpenAIRestClientTest, ARequestLostOnAReusedConnectionIsResentOnAFreshOneWithoutSpendingARetry) {
    ScriptedServer server(ScriptedServer::Behaviour::DropSecondRequest);
    openai::OpenAIRestClient client(noRetries(server));
    const auto first = client.accept("rtc_1", "{}", "accept_wh_1");
    ASSERT_TRUE(first.ok()) << first.error;
    EXPECT_EQ(first.attempts, 1);
    const auto second = client.accept("rtc_2", "{}", "accept_wh_2"); // reuses the first connection
    EXPECT_TRUE(second.ok()) << second.error;
    EXPECT_EQ(second.attempts, 2);
    EXPECT_EQ(server.connections(), 2);
    EXPECT_EQ(server.answered(), 2);
    EXPECT_EQ(server.dropped(), 1);
}

TEST(OpenAIRestClientTest, ARequestLostOnAFreshConnectionIsAFailureWhenNoRetryIsLeft) {
    ScriptedServer server(ScriptedServer::Behaviour::DropEveryRequest);
    openai::OpenAIRestClient client(noRetries(server));
    const auto result = client.accept("rtc_1", "{}", "accept_wh_1");
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.attempts, 1);
    EXPECT_EQ(server.dropped(), 1);
}

TEST(OpenAIRestClientTest, NewConnectionsResumeTheTlsSessionOfEarlierOnes) {
    simulator::SimulatorOptions options;
    options.tlsCert = sideband::testing::TestCertificates::shared().certFile();
    options.tlsKey = sideband::testing::TestCertificates::shared().keyFile();
    options.restKeepAlive = false; // every request on a connection of its own
    simulator::RealtimeSimulator sim(options);
    sim.start();
    openai::RestClientOptions client;
    client.baseUrl = sim.baseUrl();
    client.apiKey = "sk-test";
    client.caFile = sideband::testing::TestCertificates::shared().caFile();
    openai::OpenAIRestClient rest(client);
    for (int call = 1; call <= 3; ++call) {
        const auto result = rest.accept("rtc_" + std::to_string(call), "{}", "accept_wh_" + std::to_string(call));
        ASSERT_TRUE(result.ok()) << result.error;
        EXPECT_EQ(result.attempts, 1);
    }
    EXPECT_EQ(sim.restRequests().size(), 3u);
    EXPECT_EQ(sim.resumedTlsRestRequests(), 2u) << "the first connection's handshake is the only full one";
    sim.stop();
}

// --- retry policy, the API's error, and sideband_openai_requests_total (one count per HTTP attempt) ---

namespace {

class RestOutcomeTest : public ::testing::Test {
protected:
    RestOutcomeTest() {
        metrics::declareSidebandMetrics(metrics_);
        sim_.start();
    }
    ~RestOutcomeTest() override { sim_.stop(); }

    openai::RestClientOptions options() {
        openai::RestClientOptions options;
        options.baseUrl = sim_.baseUrl();
        options.apiKey = "sk-test-0123456789abcdef";
        options.retries = 2;
        options.backoff = 10ms;
        options.totalTimeout = 5000ms;
        options.metrics = &metrics_;
        return options;
    }
    double requests(const std::string& operation, const std::string& status) const {
        return metrics_.value(metrics::name::kOpenAIRequests, {{"operation", operation}, {"status", status}});
    }
    static std::string apiError(const std::string& message, const std::string& type, const std::string& code) {
        return R"({"error":{"message":")" + message + R"(","type":")" + type + R"(","param":null,"code":")" + code +
               R"("}})";
    }

    metrics::MetricsRegistry metrics_;
    simulator::RealtimeSimulator sim_;
};

} // namespace

TEST_F(RestOutcomeTest, EveryAttemptIsCountedByOperationAndStatus) {
    sim_.failNext("accept", 500, 1);
    openai::OpenAIRestClient client(options());
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.attempts, 2);
    EXPECT_EQ(requests("accept", "500"), 1);
    EXPECT_EQ(requests("accept", "200"), 1);
}

TEST_F(RestOutcomeTest, EachOperationHasItsOwnLabel) {
    openai::OpenAIRestClient client(options());
    ASSERT_TRUE(client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1").ok());
    ASSERT_TRUE(client.refer("rtc_1", "tel:+14155550123", "refer_rtc_1_1").ok());
    ASSERT_TRUE(client.reject("rtc_2", 486, "reject_evt_2").ok());
    ASSERT_TRUE(client.hangup("rtc_3", "hangup_rtc_3").ok());
    for (const char* operation : {"accept", "reject", "refer", "hangup"})
        EXPECT_EQ(requests(operation, "200"), 1) << operation;
}

TEST_F(RestOutcomeTest, HangupFailureIsRetriedWithTheSameKeyAndCounted) {
    sim_.failNext("hangup", 503, 1);
    openai::OpenAIRestClient client(options());
    const auto result = client.hangup("rtc_1", "hangup_rtc_1");
    EXPECT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.attempts, 2);
    const auto sent = sim_.restRequests("rtc_1");
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].action, "hangup");
    EXPECT_EQ(sent[0].idempotencyKey, "hangup_rtc_1");
    EXPECT_EQ(sent[1].idempotencyKey, "hangup_rtc_1");
    EXPECT_EQ(requests("hangup", "503"), 1);
    EXPECT_EQ(requests("hangup", "200"), 1);
}

TEST_F(RestOutcomeTest, HangupThatKeepsFailingIsCountedOncePerAttempt) {
    sim_.failNext("hangup", 500, 3);
    openai::OpenAIRestClient client(options());
    const auto result = client.hangup("rtc_1", "hangup_rtc_1");
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.status, 500);
    EXPECT_EQ(result.attempts, 3);
    EXPECT_EQ(requests("hangup", "500"), 3);
}

TEST_F(RestOutcomeTest, ConflictIsRetried) {
    sim_.failNext("accept", 409, 1);
    openai::OpenAIRestClient client(options());
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.attempts, 2);
    EXPECT_EQ(requests("accept", "409"), 1);
}

TEST_F(RestOutcomeTest, RequestTimeout408IsRetried) {
    sim_.failNext("accept", 408, 1);
    openai::OpenAIRestClient client(options());
    EXPECT_TRUE(client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1").ok());
    EXPECT_EQ(requests("accept", "408"), 1);
    EXPECT_EQ(requests("accept", "200"), 1);
}

TEST_F(RestOutcomeTest, RefusedRequestIsNotRetriedAndCarriesTheApiError) {
    sim_.failNext("accept", 400, 1, {},
                  apiError("Invalid 'tools[0].parameters': schema must be of type object.", "invalid_request_error",
                           "invalid_function_parameters"));
    openai::OpenAIRestClient client(options());
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_EQ(result.status, 400);
    EXPECT_EQ(result.attempts, 1);
    EXPECT_TRUE(result.permanentFailure());
    EXPECT_FALSE(result.timedOut);
    EXPECT_EQ(result.apiMessage, "Invalid 'tools[0].parameters': schema must be of type object.");
    EXPECT_EQ(result.apiType, "invalid_request_error");
    EXPECT_EQ(result.apiCode, "invalid_function_parameters");
    EXPECT_EQ(result.error, "HTTP 400 invalid_request_error/invalid_function_parameters: Invalid "
                            "'tools[0].parameters': schema must be of type object.");
    EXPECT_EQ(sim_.restRequests("rtc_1").size(), 1u);
    EXPECT_EQ(requests("accept", "400"), 1);
}

TEST_F(RestOutcomeTest, TheKeyQuotedInAnUnauthorizedAnswerIsRedacted) {
    sim_.failNext("accept", 401, 1, {},
                  apiError("Incorrect API key provided: sk-proj-AbCd****************************wXyZ. You can find "
                           "your API key at https://platform.openai.com/account/api-keys.",
                           "invalid_request_error", "invalid_api_key"));
    openai::OpenAIRestClient client(options());
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_EQ(result.status, 401);
    EXPECT_EQ(result.attempts, 1);
    EXPECT_EQ(result.apiMessage, "Incorrect API key provided: sk-<redacted> You can find your API key at "
                                 "https://platform.openai.com/account/api-keys.");
    EXPECT_EQ(result.apiCode, "invalid_api_key");
    for (const auto& text : {result.apiMessage, result.error}) {
        EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("AbCd")));
        EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("wXyZ")));
    }
}

TEST_F(RestOutcomeTest, TheConfiguredKeyNeverLeavesInTheError) {
    auto settings = options();
    settings.apiKey = "custom-token-0123456789"; // not an sk- key: redacted by value
    sim_.failNext(
        "accept", 403, 1, {},
        apiError("Key custom-token-0123456789 may not use this project\\nsecond line", "invalid_request_error", ""));
    openai::OpenAIRestClient client(settings);
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_EQ(result.apiMessage, "Key <redacted> may not use this project second line");
    EXPECT_THAT(result.error, ::testing::Not(::testing::HasSubstr("custom-token")));
}

TEST_F(RestOutcomeTest, AnErrorBodyThatIsNotTheApisShapeIsQuotedRaw) {
    sim_.failNext("accept", 400, 1, {}, "<html>Bad Request</html>");
    openai::OpenAIRestClient client(options());
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_EQ(result.status, 400);
    EXPECT_TRUE(result.apiMessage.empty());
    EXPECT_EQ(result.error, "HTTP 400: <html>Bad Request</html>");
}

TEST_F(RestOutcomeTest, NoAnswerInTimeIsATimeoutCountedAsTimeout) {
    sim_.delayNext("accept", 3000ms, 1);
    auto settings = options();
    settings.totalTimeout = 300ms;
    openai::OpenAIRestClient client(settings);
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.status, 0);
    EXPECT_TRUE(result.timedOut);
    EXPECT_FALSE(result.permanentFailure());
    EXPECT_EQ(result.attempts, 1);
    EXPECT_EQ(requests("accept", "timeout"), 1);
}

TEST_F(RestOutcomeTest, ARefusedConnectionIsAnErrorNotATimeout) {
    Poco::Net::ServerSocket closed(Poco::Net::SocketAddress("127.0.0.1", 0));
    const auto port = closed.address().port();
    closed.close(); // nothing listens there now
    auto settings = options();
    settings.baseUrl = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    settings.retries = 1;
    openai::OpenAIRestClient client(settings);
    const auto result = client.accept("rtc_1", R"({"type":"realtime"})", "accept_evt_1");
    EXPECT_EQ(result.status, 0);
    EXPECT_FALSE(result.timedOut);
    EXPECT_EQ(result.attempts, 2);
    EXPECT_EQ(requests("accept", "error"), 2);
}

// Poco's TLS sockets wait twice per blocked read (the socket's timeout, then a poll for as long):
// the client must still give up within its total timeout, and not much before it.
TEST(OpenAIRestClientTest, AnAnswerThatNeverComesOverTlsTimesOutWithinTheTotalTimeout) {
    simulator::SimulatorOptions options;
    options.tlsCert = sideband::testing::TestCertificates::shared().certFile();
    options.tlsKey = sideband::testing::TestCertificates::shared().keyFile();
    simulator::RealtimeSimulator sim(options);
    sim.start();
    sim.delayNext("accept", 5000ms, 1);
    openai::RestClientOptions client;
    client.baseUrl = sim.baseUrl();
    client.apiKey = "sk-test";
    client.caFile = sideband::testing::TestCertificates::shared().caFile();
    client.totalTimeout = 800ms;
    client.retries = 1;
    openai::OpenAIRestClient rest(client);
    const auto started = std::chrono::steady_clock::now();
    const auto result = rest.accept("rtc_1", "{}", "accept_wh_1");
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(result.status, 0);
    EXPECT_TRUE(result.timedOut) << result.error;
    EXPECT_EQ(result.attempts, 1);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    EXPECT_LT(elapsed, 1400ms) << ms << " ms"; // twice the timeout would be 1600
    EXPECT_GE(elapsed, 600ms) << ms << " ms";
    sim.stop();
}

// --- create: POST /v1/realtime/calls (multipart sdp + session) -> 201, SDP answer, Location ---

namespace {

const std::string kOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n";
const std::string kSession = R"({"type":"realtime","model":"gpt-realtime","instructions":"Be brief"})";
const std::string kAnswerSdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
const std::string kCreateKey = "sk-test-create-0123456789";

std::string created(const std::string& location, const std::string& body = kAnswerSdp,
                    const std::string& contentType = "application/sdp") {
    std::string answer = "HTTP/1.1 201 Created\r\nContent-Type: " + contentType + "\r\n";
    if (!location.empty()) answer += "Location: " + location + "\r\n";
    return answer + "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: keep-alive\r\n\r\n" + body;
}

std::string failed(int status, const std::string& reason, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

openai::RestClientOptions createOptions(const ScriptedServer& server) {
    auto options = noRetries(server);
    options.apiKey = kCreateKey;
    options.retries = 2;
    options.backoff = 10ms;
    return options;
}

// One create, by a fresh client, against `server`.
openai::CreatedCall createOnce(const ScriptedServer& server, const std::string& idempotencyKey) {
    openai::OpenAIRestClient client(createOptions(server));
    return client.create(kOffer, kSession, idempotencyKey);
}

// A raw request as the server read it, parsed back with Poco: its headers and its form's fields.
struct ParsedCreate {
    Poco::Net::HTTPRequest request;
    Poco::Net::HTMLForm form;
};

std::unique_ptr<ParsedCreate> parseCreate(const std::string& raw) {
    auto parsed = std::make_unique<ParsedCreate>();
    std::istringstream in(raw);
    parsed->request.read(in);
    parsed->form.load(parsed->request, in);
    return parsed;
}

} // namespace

TEST(OpenAIRestClientCreateTest, A201GivesTheCallIdFromLocationAndTheSdpAnswer) {
    ScriptedServer server(ScriptedServer::Behaviour::Scripted,
                          {created("/v1/realtime/calls/rtc_0123456789abcdef01234567")});
    const auto call = createOnce(server, "create_web_1");
    ASSERT_TRUE(call.ok()) << call.result.error;
    EXPECT_EQ(call.result.status, 201);
    EXPECT_EQ(call.result.attempts, 1);
    EXPECT_TRUE(call.result.error.empty());
    EXPECT_EQ(call.callId, "rtc_0123456789abcdef01234567");
    EXPECT_EQ(call.sdpAnswer, kAnswerSdp);

    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    const auto parsed = parseCreate(requests[0]);
    EXPECT_EQ(parsed->request.getMethod(), "POST");
    EXPECT_EQ(parsed->request.getURI(), "/v1/realtime/calls");
    EXPECT_EQ(parsed->request.get("Authorization"), "Bearer " + kCreateKey);
    EXPECT_EQ(parsed->request.get("Idempotency-Key"), "create_web_1");
    EXPECT_THAT(parsed->request.getContentType(), ::testing::StartsWith("multipart/form-data; boundary="));
    EXPECT_EQ(parsed->form.get("sdp"), kOffer);
    EXPECT_EQ(parsed->form.get("session"), kSession);
    EXPECT_EQ(parsed->form.size(), 2u);
    // Each part names itself and its media type.
    EXPECT_THAT(requests[0], ::testing::HasSubstr("Content-Disposition: form-data; name=\"sdp\"\r\n"
                                                  "Content-Type: application/sdp\r\n"));
    EXPECT_THAT(requests[0], ::testing::HasSubstr("Content-Disposition: form-data; name=\"session\"\r\n"
                                                  "Content-Type: application/json\r\n"));
}

TEST(OpenAIRestClientCreateTest, AnAbsoluteLocationNamesTheCallToo) {
    ScriptedServer server(ScriptedServer::Behaviour::Scripted,
                          {created("https://api.openai.com/v1/realtime/calls/rtc_abc?x=1")});
    const auto call = createOnce(server, "create_web_1");
    ASSERT_TRUE(call.ok()) << call.result.error;
    EXPECT_EQ(call.callId, "rtc_abc");
}

TEST(OpenAIRestClientCreateTest, A500IsRetriedWithTheSameKeyAndTheSameBody) {
    metrics::MetricsRegistry registry;
    metrics::declareSidebandMetrics(registry);
    ScriptedServer server(
        ScriptedServer::Behaviour::Scripted,
        {failed(500, "Internal Server Error", R"({"error":{"message":"boom","type":"server_error","code":null}})"),
         created("/v1/realtime/calls/rtc_retried")});
    auto options = createOptions(server);
    options.metrics = &registry;
    openai::OpenAIRestClient client(options);
    const auto call = client.create(kOffer, kSession, "create_web_2");
    ASSERT_TRUE(call.ok()) << call.result.error;
    EXPECT_EQ(call.result.attempts, 2);
    EXPECT_EQ(call.callId, "rtc_retried");
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 2u);
    const auto first = parseCreate(requests[0]);
    const auto second = parseCreate(requests[1]);
    EXPECT_EQ(first->request.get("Idempotency-Key"), "create_web_2");
    EXPECT_EQ(second->request.get("Idempotency-Key"), "create_web_2");
    EXPECT_EQ(second->form.get("sdp"), kOffer);
    EXPECT_EQ(second->form.get("session"), kSession);
    EXPECT_EQ(registry.value(metrics::name::kOpenAIRequests, {{"operation", "create"}, {"status", "500"}}), 1);
    EXPECT_EQ(registry.value(metrics::name::kOpenAIRequests, {{"operation", "create"}, {"status", "201"}}), 1);
}

TEST(OpenAIRestClientCreateTest, A400IsFinalAndCarriesTheApisMessage) {
    ScriptedServer server(
        ScriptedServer::Behaviour::Scripted,
        {failed(400, "Bad Request",
                R"({"error":{"message":"Invalid SDP offer: no audio m-line","type":"invalid_request_error",)"
                R"("code":"invalid_offer","param":"sdp"}})")});
    const auto call = createOnce(server, "create_web_3");
    EXPECT_FALSE(call.ok());
    EXPECT_EQ(call.result.status, 400);
    EXPECT_TRUE(call.result.permanentFailure());
    EXPECT_EQ(call.result.attempts, 1);
    EXPECT_EQ(call.result.apiMessage, "Invalid SDP offer: no audio m-line");
    EXPECT_EQ(call.result.apiCode, "invalid_offer");
    EXPECT_EQ(call.result.error, "HTTP 400 invalid_request_error/invalid_offer: Invalid SDP offer: no audio m-line");
    EXPECT_TRUE(call.callId.empty());
    EXPECT_TRUE(call.sdpAnswer.empty());
    EXPECT_EQ(server.requests().size(), 1u);
}

TEST(OpenAIRestClientCreateTest, A201WithoutLocationIsAnErrorThatKeepsItsStatus) {
    ScriptedServer server(ScriptedServer::Behaviour::Scripted, {created("")});
    const auto call = createOnce(server, "create_web_4");
    EXPECT_FALSE(call.ok());
    EXPECT_EQ(call.result.status, 201);
    EXPECT_EQ(call.result.attempts, 1) << "a created call is not created again";
    EXPECT_THAT(call.result.error, ::testing::HasSubstr("without a usable Location"));
    EXPECT_TRUE(call.callId.empty());
    EXPECT_TRUE(call.sdpAnswer.empty());
}

TEST(OpenAIRestClientCreateTest, A201WhoseLocationNamesNoCallIsAnError) {
    for (const std::string location : {"/v1/realtime/calls", "/v1/realtime/calls/", "/v1/realtime/calls/rtc a%2Fb"}) {
        ScriptedServer server(ScriptedServer::Behaviour::Scripted, {created(location)});
        const auto call = createOnce(server, "create_web_5");
        EXPECT_FALSE(call.ok()) << location;
        EXPECT_THAT(call.result.error, ::testing::HasSubstr("without a usable Location")) << location;
    }
}

TEST(OpenAIRestClientCreateTest, A201WhoseBodyIsNotSdpIsAnError) {
    ScriptedServer server(ScriptedServer::Behaviour::Scripted,
                          {created("/v1/realtime/calls/rtc_json", R"({"id":"rtc_json"})", "application/json")});
    const auto call = createOnce(server, "create_web_6");
    EXPECT_FALSE(call.ok());
    EXPECT_EQ(call.result.status, 201);
    EXPECT_EQ(call.result.error,
              R"(HTTP 201: the answer is not SDP (Content-Type application/json, body "{"id":"rtc_json"}"))");
    EXPECT_TRUE(call.callId.empty());
}

TEST(OpenAIRestClientCreateTest, AnSdpAnswerOver64KiBIsAnError) {
    ScriptedServer server(ScriptedServer::Behaviour::Scripted,
                          {created("/v1/realtime/calls/rtc_big", kAnswerSdp + std::string(70 * 1024, 'a'))});
    const auto call = createOnce(server, "create_web_7");
    EXPECT_FALSE(call.ok());
    EXPECT_THAT(call.result.error, ::testing::HasSubstr("larger than 64 KiB"));
    EXPECT_TRUE(call.sdpAnswer.empty());
}

TEST(OpenAIRestClientCreateTest, TheApiKeyNeverAppearsInTheError) {
    const std::vector<std::string> answers = {
        failed(401, "Unauthorized",
               R"({"error":{"message":"Incorrect API key provided: )" + kCreateKey +
                   R"(.","type":"invalid_request_error","code":"invalid_api_key"}})"),
        failed(403, "Forbidden", "not json, but the key: " + kCreateKey),
        created("/v1/realtime/" + kCreateKey),
        created("/v1/realtime/calls/rtc_x", "key " + kCreateKey, "text/plain; key=" + kCreateKey),
    };
    for (const auto& answer : answers) {
        ScriptedServer server(ScriptedServer::Behaviour::Scripted, {answer});
        const auto call = createOnce(server, "create_web_8");
        EXPECT_FALSE(call.ok());
        EXPECT_FALSE(call.result.error.empty());
        EXPECT_THAT(call.result.error, ::testing::Not(::testing::HasSubstr("0123456789"))) << call.result.error;
        EXPECT_THAT(call.result.apiMessage, ::testing::Not(::testing::HasSubstr("0123456789")));
    }
}

// The client and the simulator agree on the create's wire shape: parts, Location, SDP answer.
TEST_F(RestOutcomeTest, CreateAtTheSimulatorGivesItsCallIdAndAnswer) {
    const std::string offer = kOffer + "a=setup:actpass\r\na=rtpmap:111 opus/48000/2\r\n";
    sim_.failNext("create", 503, 1);
    openai::OpenAIRestClient client(options());
    const auto call = client.create(offer, kSession, "create_web_9");
    ASSERT_TRUE(call.ok()) << call.result.error;
    EXPECT_EQ(call.result.attempts, 2);
    EXPECT_THAT(call.sdpAnswer, ::testing::HasSubstr("a=setup:passive\r\n"));
    const auto sent = sim_.createRequests();
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[1].callId, call.callId);
    EXPECT_EQ(sent[1].sdp, offer);
    EXPECT_EQ(sent[1].session, kSession);
    EXPECT_EQ(sent[1].authorization, "Bearer sk-test-0123456789abcdef");
    EXPECT_EQ(sent[0].idempotencyKey, "create_web_9");
    EXPECT_EQ(sent[1].idempotencyKey, "create_web_9");
    EXPECT_EQ(requests("create", "503"), 1);
    EXPECT_EQ(requests("create", "201"), 1);
}
