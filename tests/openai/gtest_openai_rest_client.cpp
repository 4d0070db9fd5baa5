// OpenAIRestClient's connection reuse against a scripted HTTP server on 127.0.0.1: a kept-alive
// connection the server has closed must cost neither a retry nor a backoff, and only a reused
// connection earns the free resend.
#include "openai/OpenAIRestClient.h"

#include "Eventually.h"
#include "RealtimeSimulator.h"
#include "TestCertificates.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <gtest/gtest.h>

#include <atomic>
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
    };

    explicit ScriptedServer(Behaviour behaviour)
        : behaviour_(behaviour), socket_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
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
                const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                                           "Connection: keep-alive\r\n\r\n{}";
                ++answered_; // before the send: the client may check the count as soon as it has the answer
                connection.sendBytes(answer.data(), static_cast<int>(answer.size()));
                if (behaviour_ == Behaviour::AnswerThenClose) break;
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
            if (need != std::string::npos && data.size() >= need) return true;
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
