// HTTP/1.1 framing on a real listener (HTTPS and plain HTTP), written byte for byte: every request
// on a kept-alive connection gets its own answer, whatever the one before it was; answers keep
// their order; limits are answered with the right status and the connection closed.
#include "HttpServerFixture.h"

#include <thread>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

const std::string kReadyAnswer = R"({"status":"ready"})";

class HttpKeepAliveTest : public HttpServerFixture {
protected:
    void SetUp() override { start(); }

    // `first` gets `firstStatusLine`; `GET /readyz` written right after it on the same connection
    // (both in one write) gets the readyz answer.
    void expectTheNextRequestAnswered(const std::string& first, const std::string& firstStatusLine) {
        auto connection = connect();
        connection->send(first + rawRequest("GET", "/readyz"));
        const auto answer = connection->readResponse();
        EXPECT_EQ(answer.statusLine, firstStatusLine);
        EXPECT_FALSE(answer.has("connection")) << "kept alive";
        const auto next = connection->readResponse();
        EXPECT_EQ(next.statusLine, "HTTP/1.1 200 OK");
        EXPECT_EQ(next.body, kReadyAnswer);
    }
};

} // namespace

TEST_P(HttpKeepAliveTest, After401ToABodyWithContentLengthTheNextRequestGetsItsOwnAnswer) {
    expectTheNextRequestAnswered(rawRequest("POST", "/webhook", R"({"a":1})", "webhook-signature: bad\r\n"),
                                 "HTTP/1.1 401 Unauthorized");
}

TEST_P(HttpKeepAliveTest, After401ToAChunkedBodyTheNextRequestGetsItsOwnAnswer) {
    expectTheNextRequestAnswered(rawChunkedRequest("POST", "/webhook", R"({"a":1,"b":"two"})"),
                                 "HTTP/1.1 401 Unauthorized");
}

TEST_P(HttpKeepAliveTest, After404ToABodyWithContentLengthTheNextRequestGetsItsOwnAnswer) {
    expectTheNextRequestAnswered(rawRequest("POST", "/nowhere", R"({"a":1})"), "HTTP/1.1 404 Not Found");
}

TEST_P(HttpKeepAliveTest, After404ToAChunkedBodyTheNextRequestGetsItsOwnAnswer) {
    expectTheNextRequestAnswered(rawChunkedRequest("POST", "/nowhere", R"({"a":1,"b":"two"})"),
                                 "HTTP/1.1 404 Not Found");
}

TEST_P(HttpKeepAliveTest, After405ToABodyWithContentLengthTheNextRequestGetsItsOwnAnswer) {
    expectTheNextRequestAnswered(rawRequest("PUT", "/readyz", R"({"a":1})"), "HTTP/1.1 405 Method Not Allowed");
}

TEST_P(HttpKeepAliveTest, After405ToAChunkedBodyTheNextRequestGetsItsOwnAnswer) {
    expectTheNextRequestAnswered(rawChunkedRequest("POST", "/readyz", R"({"a":1,"b":"two"})"),
                                 "HTTP/1.1 405 Method Not Allowed");
}

TEST_P(HttpKeepAliveTest, AnswersToPipelinedRequestsKeepTheirOrder) {
    auto connection = connect();
    // Worker and loop routes mixed: a quick inline answer must not overtake a worker's.
    connection->send(rawRequest("POST", "/echo", "first") + rawRequest("GET", "/healthz") +
                     rawRequest("GET", "/nowhere") + rawChunkedRequest("POST", "/echo", "fourth, chunked") +
                     rawRequest("GET", "/readyz"));
    const auto first = connection->readResponse();
    EXPECT_EQ(first.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(first.body, "first");
    const auto second = connection->readResponse();
    EXPECT_EQ(second.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(second.body, R"({"status":"ok"})");
    EXPECT_EQ(connection->readResponse().statusLine, "HTTP/1.1 404 Not Found");
    const auto fourth = connection->readResponse();
    EXPECT_EQ(fourth.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(fourth.body, "fourth, chunked");
    EXPECT_EQ(connection->readResponse().body, kReadyAnswer);
}

TEST_P(HttpKeepAliveTest, ARequestWrittenOneByteAtATimeIsAnswered) {
    auto connection = connect();
    connection->sendSlowly(rawRequest("POST", "/echo", R"({"drip":true})"), 1ms);
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(answer.body, R"({"drip":true})");
}

TEST_P(HttpKeepAliveTest, AHeadOver16KiBIs431AndTheConnectionCloses) {
    auto connection = connect();
    connection->send(rawRequest("GET", "/healthz", {}, "X-Padding: " + std::string(17 * 1024, 'p') + "\r\n") +
                     rawRequest("GET", "/readyz"));
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 431 Request Header Fields Too Large");
    EXPECT_EQ(answer.body, R"({"detail":"Request header fields too large"})");
    EXPECT_EQ(answer.headers.at("connection"), "close");
    EXPECT_TRUE(connection->closedByServer()) << "nothing after the 431 is read as a request";
    EXPECT_EQ(refusedWith(431), 1);
}

TEST_P(HttpKeepAliveTest, ABodyOver1MiBWithContentLengthIs413BeforeItIsSent) {
    auto connection = connect();
    // Only the head: the answer cannot wait for a body that is never sent.
    connection->send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048577\r\n\r\n");
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 413 Content Too Large");
    EXPECT_EQ(answer.body, R"({"detail":"Request body too large"})");
    EXPECT_EQ(answer.headers.at("connection"), "close");
    EXPECT_TRUE(connection->closedByServer());
    EXPECT_EQ(refusedWith(413), 1);
}

TEST_P(HttpKeepAliveTest, AChunkedBodyOver1MiBIs413AndTheConnectionCloses) {
    auto connection = connect();
    std::string request = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk(64 * 1024, 'c');
    for (int i = 0; i < 17; ++i) // 1 MiB + 64 KiB, and no last chunk
        request += "10000\r\n" + chunk + "\r\n";
    connection->send(request + rawRequest("GET", "/readyz"));
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 413 Content Too Large");
    EXPECT_EQ(answer.headers.at("connection"), "close");
    EXPECT_TRUE(connection->closedByServer()) << "the rest of the body is not read as a request";
    EXPECT_EQ(refusedWith(413), 1);
}

TEST_P(HttpKeepAliveTest, ExpectContinueGets100ContinueThenTheAnswer) {
    auto connection = connect();
    connection->send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n");
    EXPECT_EQ(connection->readResponse().statusLine, "HTTP/1.1 100 Continue");
    connection->send("continued");
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(answer.body, "continued");
}

TEST_P(HttpKeepAliveTest, ExpectContinueWithABodyOver1MiBGets413Not100) {
    auto connection = connect();
    connection->send(
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n");
    EXPECT_EQ(connection->readResponse().statusLine, "HTTP/1.1 413 Content Too Large");
    EXPECT_TRUE(connection->closedByServer());
}

TEST_P(HttpKeepAliveTest, StatusLinesCarryTheirOwnReasonPhrase) {
    auto connection = connect();
    const std::pair<int, const char*> expected[] = {
        {200, "OK"},          {400, "Bad Request"},         {401, "Unauthorized"},
        {404, "Not Found"},   {405, "Method Not Allowed"},  {500, "Internal Server Error"},
        {502, "Bad Gateway"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"},
    };
    for (const auto& [status, reason] : expected) {
        connection->send(rawRequest("GET", "/status?" + std::to_string(status)));
        EXPECT_EQ(connection->readResponse().statusLine, "HTTP/1.1 " + std::to_string(status) + " " + reason);
    }
}

TEST_P(HttpKeepAliveTest, AMalformedRequestIs400AndTheConnectionCloses) {
    auto connection = connect();
    connection->send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Line\r\n\r\n" +
                     rawRequest("GET", "/readyz"));
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(answer.headers.at("connection"), "close");
    EXPECT_TRUE(connection->closedByServer());
    EXPECT_EQ(refusedWith(400), 1);
}

TEST_P(HttpKeepAliveTest, HeadGetsTheHeadersOfAGetAndNoBody) {
    auto connection = connect();
    connection->send(rawRequest("HEAD", "/healthz") + rawRequest("GET", "/readyz"));
    const auto head = connection->readResponse(/*toHead=*/true);
    EXPECT_EQ(head.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(head.headers.at("content-length"), "15"); // {"status":"ok"}, not sent
    // Had a body followed the HEAD answer, it would be read here as the next status line.
    const auto next = connection->readResponse();
    EXPECT_EQ(next.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(next.body, kReadyAnswer);
}

TEST_P(HttpKeepAliveTest, AnAnswerLargerThanTheSocketBuffersReachesALateReaderWhole) {
    auto connection = connect();
    constexpr std::size_t kBytes = 8 * 1024 * 1024;
    connection->send(rawRequest("GET", "/big?" + std::to_string(kBytes)) + rawRequest("GET", "/readyz"));
    std::this_thread::sleep_for(300ms); // the server fills the socket buffers and has to wait for us
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(answer.body.size(), kBytes);
    EXPECT_EQ(answer.body.find_first_not_of('x'), std::string::npos);
    EXPECT_EQ(connection->readResponse().body, kReadyAnswer);
}

TEST_P(HttpKeepAliveTest, ARequestFollowedByTheClientsFinIsAnswered) {
    auto connection = connect();
    connection->send(rawRequest("POST", "/echo", "then FIN"));
    connection->finishSending(); // the client has nothing more to say, and waits
    const auto answer = connection->readResponse();
    EXPECT_EQ(answer.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(answer.body, "then FIN");
    EXPECT_TRUE(connection->closedByServer());
}

TEST_P(HttpKeepAliveTest, PipelinedRequestsFollowedByTheClientsFinAreAllAnswered) {
    auto connection = connect();
    connection->send(rawRequest("POST", "/echo", "one") + rawRequest("GET", "/healthz") +
                     rawRequest("POST", "/echo", "three"));
    connection->finishSending();
    EXPECT_EQ(connection->readResponse().body, "one");
    EXPECT_EQ(connection->readResponse().body, R"({"status":"ok"})");
    EXPECT_EQ(connection->readResponse().body, "three");
    EXPECT_TRUE(connection->closedByServer());
}

TEST_P(HttpKeepAliveTest, HalfARequestThenTheClientsFinClosesTheConnection) {
    auto connection = connect();
    connection->send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nhalf");
    connection->finishSending();
    EXPECT_TRUE(connection->closedByServer()) << "the rest can never come";
}

TEST_P(HttpKeepAliveTest, AClientPausedBehindItsPipelineIsReadAgainOnceAnswered) {
    auto connection = pausedBehindAHeldRequest();
    gate_.open();
    expectTheHeldPipelineAnswered(*connection);
    connection->send(rawRequest("GET", "/readyz"));
    EXPECT_EQ(connection->readResponse().body, kReadyAnswer) << "the connection is read again";
}

TEST_P(HttpKeepAliveTest, ABodyWithTwoLengthsIs400AndTheConnectionCloses) {
    // Where a proxy and this server could disagree on where the body ends (request smuggling).
    const std::string ambiguous[] = {
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    };
    for (const auto& request : ambiguous) {
        auto connection = connect();
        connection->send(request + rawRequest("GET", "/readyz"));
        const auto answer = connection->readResponse();
        EXPECT_EQ(answer.statusLine, "HTTP/1.1 400 Bad Request") << request;
        EXPECT_EQ(answer.headers.at("connection"), "close");
        EXPECT_TRUE(connection->closedByServer()) << "nothing after it is read as a request";
    }
}

INSTANTIATE_TEST_SUITE_P(Transports, HttpKeepAliveTest, bothTransports(), transportName);
