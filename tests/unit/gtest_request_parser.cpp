// http::RequestParser and serializeResponse (host/http/HttpWire.h): the HTTP/1.1 wire of the front
// door without a socket, as HttpServer's connections run it. Includes the fuzzer's findings
// (tests/fuzz/fuzz_http_front_door): trailer fields are not headers, the head's limit does not
// depend on how TCP cuts the head, and a Content-Length's leading zeros do not change it.
#include "http/HttpWire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace sideband::http;

namespace {

struct Parsed {
    std::vector<Request> requests;
    std::vector<bool> keepAlive;
    int refused = 0; // the refusal's status, 0 when none
    int continues = 0;
};

// Feeds `segments` one after the other, taking every whole request, as a connection does.
Parsed parse(const std::vector<std::string>& segments, RequestParser::Limits limits = {}) {
    Parsed parsed;
    RequestParser parser(limits, [&](bool expectContinue) { parsed.continues += expectContinue ? 1 : 0; });
    std::string inbox;
    for (const auto& segment : segments) {
        inbox += segment;
        while (!inbox.empty() && !parsed.refused) {
            const auto result = parser.parse(inbox);
            if (result == RequestParser::Result::NeedMore) break;
            if (result == RequestParser::Result::Failed) {
                parsed.refused = parser.refusal().status;
                break;
            }
            parsed.requests.push_back(parser.request());
            parsed.keepAlive.push_back(parser.keepAlive());
        }
    }
    return parsed;
}

std::vector<std::string> bytewise(const std::string& text) {
    std::vector<std::string> bytes;
    for (char c : text)
        bytes.emplace_back(1, c);
    return bytes;
}

} // namespace

TEST(RequestParser, PipelinedRequestsComeOneAtATimeWithTheirBodies) {
    const auto parsed = parse({"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nGET /bGET /c HTTP/1.1\r\n"
                               "Host: h\r\nConnection: close\r\n\r\n"});
    ASSERT_EQ(parsed.requests.size(), 2u);
    EXPECT_EQ(parsed.requests[0].method, "POST");
    EXPECT_EQ(parsed.requests[0].target, "/a?x=1");
    EXPECT_EQ(parsed.requests[0].path, "/a");
    EXPECT_EQ(parsed.requests[0].body, "GET /b") << "the body is never read as a request";
    EXPECT_EQ(parsed.requests[1].path, "/c");
    EXPECT_TRUE(parsed.keepAlive[0]);
    EXPECT_FALSE(parsed.keepAlive[1]);
    EXPECT_EQ(parsed.refused, 0);
}

TEST(RequestParser, HeaderNamesAreLowerCasedAndJoinedAcrossReads) {
    const auto parsed = parse(bytewise("GET / HTTP/1.1\r\nWebhook-ID: wh_1\r\nX-Two: a\r\n\r\n"));
    ASSERT_EQ(parsed.requests.size(), 1u);
    const std::vector<std::pair<std::string, std::string>> expected{{"webhook-id", "wh_1"}, {"x-two", "a"}};
    EXPECT_EQ(parsed.requests[0].headers, expected);
}

TEST(RequestParser, AChunkedBodysTrailerIsNotMergedIntoTheHeaders) {
    const auto parsed = parse({"POST /hook HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "4\r\nbody\r\n0\r\nwebhook-signature: v1,forged\r\nContent-Length: 99\r\n\r\n"});
    ASSERT_EQ(parsed.requests.size(), 1u);
    EXPECT_EQ(parsed.requests[0].body, "body");
    EXPECT_EQ(parsed.requests[0].header("webhook-signature", "none"), "none");
    EXPECT_EQ(parsed.requests[0].header("content-length", "none"), "none");
    EXPECT_EQ(parsed.requests[0].headers.size(), 2u);
}

TEST(RequestParser, TheHeadLimitIsTheSameHoweverTcpCutsTheHead) {
    const RequestParser::Limits limits{200, 1024};
    bool refusedWhole = false;
    for (std::size_t filler = 0; filler < 250; ++filler) {
        const auto request = "GET / HTTP/1.1\r\nX-Long-Header-Name: " + std::string(filler, 'v') + "\r\n\r\n";
        const auto whole = parse({request}, limits);
        const auto split = parse(bytewise(request), limits);
        ASSERT_EQ(whole.refused, split.refused) << request.size() << " bytes";
        ASSERT_EQ(whole.requests.size(), split.requests.size());
        refusedWhole = refusedWhole || whole.refused == 431;
    }
    EXPECT_TRUE(refusedWhole) << "the limit was reached";
}

TEST(RequestParser, RefusalsSayWhy) {
    const RequestParser::Limits limits{256, 16};
    EXPECT_EQ(parse({"GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n"}, limits).refused, 431);
    EXPECT_EQ(parse({"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n"}, limits).refused, 413);
    EXPECT_EQ(
        parse({"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n" + std::string(17, 'b')}, limits).refused,
        413);
    EXPECT_EQ(parse({"GET / HTTP/1.1\r\nHost h\r\n\r\n"}).refused, 400);
    EXPECT_EQ(parse({"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}).refused,
              400)
        << "a length two framings read differently";
    EXPECT_EQ(parse({"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"}).refused, 400);
}

// Found by fuzz_http_front_door (2026-12-03): Content-Length is 1*DIGIT, so leading zeros, however
// many, are the same length; the body is read to it and the next request starts after it.
TEST(RequestParser, AContentLengthWithLeadingZerosIsReadAsItsValue) {
    const auto parsed = parse(
        {"POST / HTTP/1.1\r\nContent-Length: " + std::string(100, '0') + "5\r\n\r\nhello" + "GET / HTTP/1.1\r\n\r\n"});
    EXPECT_EQ(parsed.refused, 0);
    ASSERT_EQ(parsed.requests.size(), 2u);
    EXPECT_EQ(parsed.requests[0].body, "hello");
    EXPECT_EQ(parsed.requests[1].method, "GET");
}

TEST(RequestParser, ExpectContinueIsReportedWithTheHead) {
    const auto parsed = parse({"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", "ok"});
    EXPECT_EQ(parsed.continues, 1);
    ASSERT_EQ(parsed.requests.size(), 1u);
    EXPECT_EQ(parsed.requests[0].body, "ok");
}

TEST(SerializeResponse, HeadersThenTheBodyUnlessHead) {
    auto response = Response::json(405, R"({"detail":"Method not allowed"})");
    response.headers.emplace_back("Allow", "GET, HEAD");
    EXPECT_EQ(serializeResponse(response, false, false),
              "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: 31\r\n"
              "Allow: GET, HEAD\r\n\r\n{\"detail\":\"Method not allowed\"}");
    EXPECT_EQ(serializeResponse(response, true, true),
              "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: 31\r\n"
              "Allow: GET, HEAD\r\nConnection: close\r\n\r\n");
    EXPECT_STREQ(reasonPhrase(431), "Request Header Fields Too Large");
    EXPECT_STREQ(reasonPhrase(299), "");
}
