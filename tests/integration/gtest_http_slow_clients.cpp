// Slow and dead clients on a real listener (HTTPS and plain HTTP): each is closed at its deadline,
// measured whole rather than per read, counted per reason, and none of them delays anyone else.
// A full worker pool answers 503 at once instead of queueing without end.
#include "Eventually.h"
#include "HttpServerFixture.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto kDeadline = 300ms;

class HttpSlowClientTest : public HttpServerFixture {
protected:
    // Every deadline short, so that a test sees it pass.
    http::ListenerOptions shortDeadlines() {
        auto options = this->options();
        options.tlsHandshakeTimeout = kDeadline;
        options.headTimeout = kDeadline;
        options.bodyTimeout = kDeadline;
        options.idleTimeout = kDeadline;
        return options;
    }
};

// A head that takes 4 s to arrive at one byte per 100 ms.
const std::string kLongHead =
    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: " + std::string(40, 'd') + "\r\n\r\n";

} // namespace

TEST_P(HttpSlowClientTest, AHeadDrippingInIsClosedAtTheHeadDeadlineFromItsFirstByte) {
    start(shortDeadlines());
    auto connection = connect();
    // Each byte comes well inside the deadline: only a deadline measured whole ends this.
    bool closed = false;
    for (std::size_t i = 0; i < kLongHead.size() && !closed; ++i) {
        try {
            connection->send(kLongHead.substr(i, 1));
        } catch (const std::exception&) {
            break; // reset: closed
        }
        std::this_thread::sleep_for(100ms);
        closed = connection->serverHasClosed();
    }
    EXPECT_TRUE(connection->serverHasClosed()) << "closed before the head was whole";
    EXPECT_TRUE(eventually([&] { return closedFor("head_timeout") == 1; }));
}

TEST_P(HttpSlowClientTest, ABodyStoppingHalfwayIsClosedAtTheBodyDeadline) {
    start(shortDeadlines());
    auto connection = connect();
    connection->send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n" + std::string(50, 'b'));
    EXPECT_TRUE(connection->closedByServer());
    EXPECT_TRUE(eventually([&] { return closedFor("body_timeout") == 1; }));
}

TEST_P(HttpSlowClientTest, AnIdleKeptAliveConnectionIsClosedAtTheIdleDeadline) {
    start(shortDeadlines());
    auto connection = connect();
    connection->send(rawRequest("GET", "/healthz"));
    ASSERT_EQ(connection->readResponse().statusLine, "HTTP/1.1 200 OK");
    EXPECT_TRUE(connection->closedByServer());
    EXPECT_TRUE(eventually([&] { return closedFor("idle_timeout") == 1; }));
}

TEST_P(HttpSlowClientTest, AConnectionThatNeverSendsARequestIsClosedAtItsDeadline) {
    start(shortDeadlines());
    // Over TLS a client without a ClientHello; over plain HTTP a client without a first byte.
    auto connection = connectPlain();
    EXPECT_TRUE(connection->closedByServer());
    const auto reason = tls() ? "tls_handshake_timeout" : "idle_timeout";
    EXPECT_TRUE(eventually([&] { return closedFor(reason) == 1; }));
}

TEST_P(HttpSlowClientTest, AClientNotReadingItsAnswerIsClosedAtTheWriteDeadline) {
    start(shortDeadlines());
    auto connection = connect();
    connection->socket().setReceiveBufferSize(4096);
    connection->send(rawRequest("GET", "/big?" + std::to_string(32 * 1024 * 1024)));
    EXPECT_TRUE(eventually([&] { return closedFor("write_timeout") == 1; }));
}

TEST_P(HttpSlowClientTest, ClientsHangingInEveryPhaseDelayNoOne) {
    auto options = this->options(); // deadlines far away: the hanging clients stay for the whole test
    options.workers = 1;
    start(options);
    std::vector<std::unique_ptr<RawHttpConnection>> hanging;
    hanging.push_back(connectPlain()); // no byte at all (no ClientHello over TLS)
    hanging.push_back(connect());      // idle after connecting
    hanging.push_back(connect());
    hanging.back()->send("GET /healthz HTTP/1.1\r\nHost: 127."); // half a head
    hanging.push_back(connect());
    hanging.back()->send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nhalf"); // half a body
    hanging.push_back(connect());
    hanging.back()->send(rawRequest("GET", "/big?" + std::to_string(32 * 1024 * 1024))); // an answer not read

    EXPECT_EQ(healthOnAFreshConnection(), "HTTP/1.1 200 OK");
    auto connection = connect();
    connection->send(rawRequest("POST", "/echo", "on the only worker"));
    EXPECT_EQ(connection->readResponse().body, "on the only worker");
    for (auto& client : hanging)
        EXPECT_FALSE(client->closedByServer(1ms)) << "still open: nothing above waited for it to go";
}

TEST_P(HttpSlowClientTest, PlainHttpOnTheTlsPortIsClosedAtOnceWithoutAnAnswer) {
    if (!tls()) GTEST_SKIP() << "the TLS listener only";
    auto options = this->options();
    options.tlsHandshakeTimeout = 10min; // closed for what it sent, not by a deadline
    start(options);
    auto connection = connectPlain();
    connection->send(rawRequest("GET", "/healthz"));
    EXPECT_TRUE(connection->closedByServer(5s));
    EXPECT_TRUE(eventually([&] { return closedFor("tls_handshake_failed") == 1; }));
    EXPECT_EQ(healthOnAFreshConnection(), "HTTP/1.1 200 OK") << "the server is still serving";
}

TEST_P(HttpSlowClientTest, AFullWorkerPoolAnswers503WithRetryAfterAtOnce) {
    auto options = this->options();
    options.workers = 1;
    options.queue = 1;
    start(options);
    gate_.close();
    auto running = connect();
    running->send(rawRequest("GET", "/block"));
    ASSERT_TRUE(gate_.waitUntilHeld());
    auto queued = connect();
    queued->send(rawRequest("GET", "/block"));
    ASSERT_TRUE(eventually([&] { return server_->queuedRequests() == 1; }));

    auto refused = connect();
    refused->send(rawRequest("POST", "/echo", "no room"));
    const auto busy = refused->readResponse();
    EXPECT_EQ(busy.statusLine, "HTTP/1.1 503 Service Unavailable");
    EXPECT_EQ(busy.headers.at("retry-after"), "1");
    EXPECT_EQ(busy.body, R"({"detail":"Server busy"})");
    EXPECT_EQ(saturated(), 1);
    EXPECT_EQ(healthOnAFreshConnection(), "HTTP/1.1 200 OK") << "loop routes still answer";

    gate_.open();
    EXPECT_EQ(running->readResponse().body, R"({"released":true})");
    EXPECT_EQ(queued->readResponse().body, R"({"released":true})");
    refused->send(rawRequest("POST", "/echo", "room now"));
    EXPECT_EQ(refused->readResponse().body, "room now") << "the refused connection stays usable";
    EXPECT_EQ(saturated(), 1);
}

TEST_P(HttpSlowClientTest, OverTheConnectionLimitTheOldestIdleConnectionMakesRoomCountedOnce) {
    auto options = this->options();
    options.maxConnections = 2;
    start(options);
    auto oldest = connect();
    oldest->send(rawRequest("GET", "/healthz"));
    ASSERT_EQ(oldest->readResponse().statusLine, "HTTP/1.1 200 OK");
    auto younger = connect();
    younger->send(rawRequest("GET", "/healthz"));
    ASSERT_EQ(younger->readResponse().statusLine, "HTTP/1.1 200 OK");

    EXPECT_EQ(healthOnAFreshConnection(), "HTTP/1.1 200 OK") << "the new connection is served";
    EXPECT_TRUE(oldest->closedByServer());
    younger->send(rawRequest("GET", "/readyz"));
    EXPECT_EQ(younger->readResponse().statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(closedFor("over_limit_evicted_idle"), 1);
    EXPECT_EQ(closedFor("evicted"), 0) << "one close, counted once";
}

TEST_P(HttpSlowClientTest, AGarbledTlsRecordIsCountedAsAReadErrorWithoutItsMessage) {
    if (!tls()) GTEST_SKIP() << "the TLS listener only";
    start();
    auto connection = connect();
    // An application-data record that no key decrypts, under the TLS layer.
    const std::string record = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, '!');
    ASSERT_EQ(::send(static_cast<int>(connection->socket().impl()->sockfd()), record.data(), record.size(), 0),
              static_cast<ssize_t>(record.size()));
    EXPECT_TRUE(connection->closedByServer());
    // The metric label is the kind of close, never an error message of unbounded variety.
    EXPECT_TRUE(eventually([&] { return closedFor("read_error") == 1; })) << metrics_.renderPrometheus();
}

TEST_P(HttpSlowClientTest, AnAnswerWrittenWholeBeforeTheConnectionClosesIsNotAWriteTimeout) {
    start(shortDeadlines());
    auto connection = connect();
    connection->send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000\r\n\r\n");
    ASSERT_EQ(connection->readResponse().statusLine, "HTTP/1.1 413 Content Too Large");
    // The client neither sends its body nor closes: the server closes once its answer is out.
    EXPECT_TRUE(connection->closedByServer());
    EXPECT_TRUE(eventually([&] { return server_->openConnections() == 0; }));
    EXPECT_EQ(closedFor("write_timeout"), 0) << "the answer was out long before";
}

TEST_P(HttpSlowClientTest, AClientThatHalfClosesWhileItsConnectionIsPausedCostsNoCpu) {
    auto options = this->options();
    options.workers = 1;
    start(options);
    auto connection = pausedBehindAHeldRequest();
    connection->finishSending();

    const auto cpuSeconds = [] {
        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    };
    const auto before = cpuSeconds();
    std::this_thread::sleep_for(1s);
    // A loop woken by the FIN again and again while it does not read burns a whole core here.
    EXPECT_LT(cpuSeconds() - before, 0.3) << "seconds of CPU while the paused connection waited";

    gate_.open();
    expectTheHeldPipelineAnswered(*connection);
    EXPECT_TRUE(connection->closedByServer());
}

INSTANTIATE_TEST_SUITE_P(Transports, HttpSlowClientTest, bothTransports(), transportName);
