// The WebRTC endpoint against fakes of every seam: each status it answers, with its body, the REST
// call made (or not), the slot held (or released), the session launched and the metrics counted.
#include "FakeCallControl.h"
#include "FakeSessionLauncher.h"
#include "FakeTenantStore.h"
#include "FakeToolBuilder.h"

#include "core/Json.h"
#include "metrics/SidebandMetrics.h"
#include "tenants/WebTokens.h"
#include "webrtc/WebRtcCalls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace sideband;
using namespace sideband::testing;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const std::string kOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n";

class WebRtcCallsTest : public ::testing::Test {
protected:
    WebRtcCallsTest() {
        metrics::declareSidebandMetrics(metrics_);
        store_.addTenant("acme", "+18005550123",
                         {true, std::nullopt, tenants::Instructions{"You are Acme's receptionist.", "Say hello"},
                          R"({"model":"gpt-realtime","voice":"marin","plugin":"appointments.so"})"});
        pipeline_.maxConcurrentCalls = 2;
        options_.corsOrigins = {"https://shop.example"};
    }

    webrtc::WebRtcCalls& calls() {
        if (!calls_)
            calls_ = std::make_unique<webrtc::WebRtcCalls>(
                calls::PipelineServices{store_, ledger_, rest_, &tools_, sessions_, metrics_, clock_}, pipeline_,
                options_, logs_);
        return *calls_;
    }

    std::string token(const std::string& tenant = "acme", std::vector<std::string> origins = {}, int rate = 30) {
        auto made = tenants::makeWebToken(tenant, std::move(origins), rate, std::chrono::system_clock::now());
        store_.saveWebToken(made.token, tenants::hashWebTokenSecret(made.secret));
        tokenIds_[made.secret] = made.token.id;
        return made.secret;
    }

    static http::Request post(const std::string& secret, const std::string& body = kOffer,
                              const std::string& contentType = "application/sdp", const std::string& origin = "") {
        http::Request request;
        request.method = "POST";
        request.target = request.path = "/api/v1/webrtc/calls";
        if (!secret.empty()) request.headers.emplace_back("authorization", "Bearer " + secret);
        request.headers.emplace_back("content-type", contentType);
        if (!origin.empty()) request.headers.emplace_back("origin", origin);
        request.body = body;
        return request;
    }

    static http::Request withQuery(const std::string& method, const std::string& path, const std::string& query,
                                   const std::string& secret) {
        http::Request request;
        request.method = method;
        request.path = path;
        request.target = path + "?" + query;
        request.headers.emplace_back("authorization", "Bearer " + secret);
        return request;
    }

    static std::string header(const http::Response& response, const std::string& name) {
        for (const auto& [key, value] : response.headers)
            if (key == name) return value;
        return {};
    }

    double requests(const std::string& outcome) {
        return metrics_.value(metrics::name::kWebRtcRequests, {{"outcome", outcome}});
    }

    void expectNothingHeldOrCreated() {
        EXPECT_EQ(ledger_.total().inUse(), 0);
        EXPECT_TRUE(rest_.requests("create").empty());
        EXPECT_TRUE(sessions_.launched.empty());
    }

    ManualClock clock_{std::chrono::seconds{1750000000}};
    FakeTenantStore store_;
    calls::InMemoryCallLedger ledger_{clock_};
    FakeCallControl rest_;
    FakeToolBuilder tools_;
    FakeSessionLauncher sessions_;
    metrics::MetricsRegistry metrics_;
    calls::PipelineOptions pipeline_;
    webrtc::WebRtcOptions options_;
    webrtc::CallEventLogs logs_{100};
    std::map<std::string, std::string> tokenIds_;
    std::unique_ptr<webrtc::WebRtcCalls> calls_;
};

} // namespace

TEST_F(WebRtcCallsTest, AValidTokensOfferIsAnswered201WithTheSdpAnswerAndTheCallId) {
    const auto response = calls().create(post(token()));
    EXPECT_EQ(response.status, 201);
    EXPECT_EQ(response.contentType, "application/sdp");
    EXPECT_EQ(response.body, "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=rtc_fake_1\r\nt=0 0\r\n");
    EXPECT_EQ(header(response, "X-Sideband-Call-Id"), "rtc_fake_1");
    EXPECT_EQ(requests("created"), 1);
    EXPECT_EQ(metrics_.value(metrics::name::kCallsAccepted, {{"tenant", "acme"}, {"channel", "webrtc"}}), 1);
}

TEST_F(WebRtcCallsTest, TheCallIsCreatedAtOpenAIWithTheOfferAndTheTenantsInstructionsAndTools) {
    calls().create(post(token()));
    const auto creates = rest_.requests("create");
    ASSERT_EQ(creates.size(), 1u);
    EXPECT_EQ(creates[0].sdp, kOffer);
    EXPECT_EQ(creates[0].body,
              R"({"type":"realtime","model":"gpt-realtime","instructions":"You are Acme's receptionist.",)"
              R"("tools":[{"type":"function","name":"find_slots","description":"Find free slots",)"
              R"("parameters":{"type":"object"}}],"tool_choice":"auto","audio":{"output":{"voice":"marin"}}})");
    EXPECT_THAT(creates[0].idempotencyKey, ::testing::StartsWith("create_"));
}

TEST_F(WebRtcCallsTest, TheCallHoldsASlotUnderItsIdAndItsSessionIsLaunchedAsAWebRtcCall) {
    calls().create(post(token()));
    EXPECT_TRUE(ledger_.isKnown("rtc_fake_1"));
    EXPECT_EQ(ledger_.total().pending, 1);
    ASSERT_EQ(sessions_.launched.size(), 1u);
    const auto& call = sessions_.launched[0];
    EXPECT_EQ(call.callId, "rtc_fake_1");
    EXPECT_EQ(call.tenantId, "acme");
    EXPECT_EQ(call.channel, "webrtc");
    ASSERT_NE(call.tools, nullptr);
    ASSERT_NE(call.actions, nullptr);
    EXPECT_NE(call.observer, nullptr);
    EXPECT_EQ(call.instructions.prompt, "You are Acme's receptionist.");
    // Described to OpenAI before it named the call; serving it, bound to its id.
    ASSERT_EQ(tools_.builtFor.size(), 2u);
    EXPECT_EQ(tools_.builtFor[1], "rtc_fake_1");
}

TEST_F(WebRtcCallsTest, TheCallIsRecordedAsAcceptedOnTheWebRtcChannel) {
    calls().create(post(token()));
    const auto record = store_.findCall("rtc_fake_1");
    ASSERT_TRUE(record);
    EXPECT_EQ(record->outcome, "accepted");
    EXPECT_EQ(record->channel, "webrtc");
    EXPECT_EQ(record->tenantId, "acme");
}

TEST_F(WebRtcCallsTest, TheSameOfferAgainIsAnsweredWithItsCallWithoutASecondCreateOrSlot) {
    const auto secret = token();
    const auto first = calls().create(post(secret));
    const auto again = calls().create(post(secret));
    EXPECT_EQ(again.status, 201);
    EXPECT_EQ(again.body, first.body);
    EXPECT_EQ(header(again, "X-Sideband-Call-Id"), "rtc_fake_1");
    EXPECT_EQ(rest_.requests("create").size(), 1u);
    EXPECT_EQ(sessions_.launched.size(), 1u);
    EXPECT_EQ(ledger_.total().inUse(), 1);
    EXPECT_EQ(requests("repeated"), 1);
    calls().create(post(secret, kOffer + "a=another-offer\r\n"));
    EXPECT_EQ(rest_.requests("create").size(), 2u); // another offer is another call
}

TEST_F(WebRtcCallsTest, AMissingTokenIs401WithABearerChallenge) {
    const auto response = calls().create(post(""));
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.body, R"({"detail":"Missing or invalid web token"})");
    EXPECT_EQ(header(response, "WWW-Authenticate"), "Bearer");
    EXPECT_EQ(requests("unauthorized"), 1);
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, AnUnknownTokenIs401) {
    token();
    const auto response = calls().create(post("sbwt_wt_000000000000_not-a-real-secret"));
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.body, R"({"detail":"Missing or invalid web token"})");
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, ARevokedTokenIs401) {
    const auto secret = token();
    ASSERT_TRUE(store_.revokeWebToken("acme", tokenIds_[secret]));
    EXPECT_EQ(calls().create(post(secret)).status, 401);
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, AnOriginTheTokenDoesNotAllowIs403) {
    const auto secret = token("acme", {"https://shop.example"});
    const auto response = calls().create(post(secret, kOffer, "application/sdp", "https://evil.example"));
    EXPECT_EQ(response.status, 403);
    EXPECT_EQ(response.body, R"({"detail":"Origin not allowed for this token"})");
    EXPECT_EQ(header(response, "Access-Control-Allow-Origin"), ""); // not a CORS origin either
    EXPECT_EQ(requests("forbidden_origin"), 1);
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, AnOriginTheTokenAllowsGetsTheCallWithCorsHeaders) {
    const auto secret = token("acme", {"https://shop.example"});
    const auto response = calls().create(post(secret, kOffer, "application/sdp", "https://shop.example"));
    EXPECT_EQ(response.status, 201);
    EXPECT_EQ(header(response, "Access-Control-Allow-Origin"), "https://shop.example");
    EXPECT_EQ(header(response, "Vary"), "Origin");
    EXPECT_THAT(header(response, "Access-Control-Expose-Headers"), HasSubstr("X-Sideband-Call-Id"));
}

TEST_F(WebRtcCallsTest, AnOfferOver64KiBIs413) {
    const auto response = calls().create(post(token(), kOffer + std::string(64 * 1024, 'a')));
    EXPECT_EQ(response.status, 413);
    EXPECT_EQ(response.body, R"({"detail":"SDP offer over 64 KiB"})");
    EXPECT_EQ(requests("too_large"), 1);
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, ABodyThatIsNotSdpIs400) {
    const auto response = calls().create(post(token(), R"({"sdp":"v=0"})"));
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.body, R"json({"detail":"Body must be an SDP offer (Content-Type: application/sdp)"})json");
    EXPECT_EQ(requests("bad_offer"), 1);
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, AnOfferSentAsAnotherContentTypeIs400) {
    EXPECT_EQ(calls().create(post(token(), kOffer, "text/plain")).status, 400);
    EXPECT_EQ(calls().create(post(token(), kOffer, "application/sdp; charset=utf-8")).status, 201);
}

TEST_F(WebRtcCallsTest, CallsOverTheTokensRateAre429WithRetryAfter) {
    pipeline_.maxConcurrentCalls = 10;
    const auto secret = token("acme", {}, 2);
    EXPECT_EQ(calls().create(post(secret, kOffer + "a=n:1\r\n")).status, 201);
    EXPECT_EQ(calls().create(post(secret, kOffer + "a=n:2\r\n")).status, 201);
    const auto response = calls().create(post(secret, kOffer + "a=n:3\r\n"));
    EXPECT_EQ(response.status, 429);
    EXPECT_EQ(response.body, R"({"detail":"Too many calls for this token"})");
    const auto retryAfter = std::stoi(header(response, "Retry-After"));
    EXPECT_GE(retryAfter, 1);
    EXPECT_LE(retryAfter, 60);
    EXPECT_EQ(rest_.requests("create").size(), 2u);
    EXPECT_EQ(calls().create(post(token("acme", {}, 2))).status, 201); // another token has its own rate
}

TEST_F(WebRtcCallsTest, AtCapacityIs503WithRetryAfterAndNothingIsCreated) {
    ASSERT_EQ(ledger_.reserve("sip_1", "acme", {2, 2}), calls::CallLedger::Reservation::Reserved);
    ASSERT_EQ(ledger_.reserve("sip_2", "other", {2, 2}), calls::CallLedger::Reservation::Reserved);
    const auto response = calls().create(post(token()));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.body, R"({"detail":"At capacity"})");
    EXPECT_EQ(header(response, "Retry-After"), "5");
    EXPECT_EQ(requests("capacity"), 1);
    EXPECT_TRUE(rest_.requests("create").empty());
    EXPECT_EQ(ledger_.total().inUse(), 2);
}

TEST_F(WebRtcCallsTest, TheTenantsOwnCallLimitCountsSipAndWebRtcCallsTogether) {
    pipeline_.maxConcurrentCalls = 10;
    store_.addTenant("small", "+18005550999",
                     {true, 1, tenants::Instructions{"You are Small's receptionist.", ""}, R"({"call_limit":1})"});
    ASSERT_EQ(ledger_.reserve("sip_1", "small", {10, 1}), calls::CallLedger::Reservation::Reserved);
    EXPECT_EQ(calls().create(post(token("small"))).status, 503);
    ledger_.release("sip_1");
    EXPECT_EQ(calls().create(post(token("small"))).status, 201);
}

TEST_F(WebRtcCallsTest, OpenAIRefusingTheCallIs502WithItsStatusAndTheSlotIsReleased) {
    rest_.answerNext("create", 400);
    const auto response = calls().create(post(token()));
    EXPECT_EQ(response.status, 502);
    EXPECT_EQ(response.body, R"({"detail":"OpenAI refused the call","status":400})");
    EXPECT_EQ(requests("openai_refused"), 1);
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_TRUE(sessions_.launched.empty());
    EXPECT_EQ(
        metrics_.value(metrics::name::kAcceptFailures, {{"tenant", "acme"}, {"reason", "refused"}, {"status", "400"}}),
        1);
}

TEST_F(WebRtcCallsTest, OpenAIFailingIs502AndTheSlotIsReleased) {
    rest_.answerNext("create", 500);
    const auto response = calls().create(post(token()));
    EXPECT_EQ(response.status, 502);
    EXPECT_EQ(response.body, R"({"detail":"OpenAI did not create the call","status":500})");
    EXPECT_EQ(requests("openai_failed"), 1);
    EXPECT_EQ(ledger_.total().inUse(), 0);
    EXPECT_TRUE(sessions_.launched.empty());
}

TEST_F(WebRtcCallsTest, ATenantWithoutInstructionsIs503AndTheSlotIsReleased) {
    store_.addTenant("bare", "+18005550111", {true, std::nullopt, std::nullopt, "{}"});
    const auto response = calls().create(post(token("bare")));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.body, R"({"detail":"Tenant unavailable","reason":"instructions_missing"})");
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, AStoreThatCannotAnswerIs503) {
    const auto secret = token();
    store_.setUnavailable(true);
    const auto response = calls().create(post(secret));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.body, R"({"detail":"Service unavailable"})");
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, ADrainingHostIs503) {
    calls().setDraining(true);
    const auto response = calls().create(post(token()));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.body, R"({"detail":"Server draining"})");
    expectNothingHeldOrCreated();
}

TEST_F(WebRtcCallsTest, ThePreflightOfAConfiguredOriginIsAnsweredAndAnotherIs403) {
    http::Request preflight;
    preflight.method = "OPTIONS";
    preflight.target = preflight.path = "/api/v1/webrtc/calls";
    preflight.headers = {{"origin", "https://shop.example"}, {"access-control-request-method", "POST"}};
    const auto allowed = calls().preflight(preflight);
    EXPECT_EQ(allowed.status, 204);
    EXPECT_EQ(header(allowed, "Access-Control-Allow-Origin"), "https://shop.example");
    EXPECT_EQ(header(allowed, "Access-Control-Allow-Headers"), "Authorization, Content-Type");
    EXPECT_THAT(header(allowed, "Access-Control-Allow-Methods"), HasSubstr("POST"));
    preflight.headers = {{"origin", "https://evil.example"}};
    const auto refused = calls().preflight(preflight);
    EXPECT_EQ(refused.status, 403);
    EXPECT_EQ(header(refused, "Access-Control-Allow-Origin"), "");
}

TEST_F(WebRtcCallsTest, TheCallsEventsAreReadWithTheTokenThatCreatedItOnly) {
    const auto secret = token();
    calls().create(post(secret));
    auto observer = sessions_.launched.at(0).observer;
    observer->onCallEvent(R"({"type":"session.open"})");
    observer->onCallEvent(R"({"type":"function_call","call_id":"fc_1","name":"find_slots","arguments":"{}"})");

    const auto page =
        calls().events(withQuery("GET", "/api/v1/webrtc/calls/events", "call_id=rtc_fake_1&after=1", secret));
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.body, R"({"events":[{"arguments":"{}","call_id":"fc_1","name":"find_slots",)"
                         R"("type":"function_call"}],"next":2,"ended":false})");
    const auto other = calls().events(withQuery("GET", "/api/v1/webrtc/calls/events", "call_id=rtc_fake_1", token()));
    EXPECT_EQ(other.status, 404);
    EXPECT_EQ(other.body, R"({"detail":"No such call for this token"})");
}

TEST_F(WebRtcCallsTest, HangUpFromTheBrowserHangsUpItsOwnCallOnly) {
    const auto secret = token();
    calls().create(post(secret));
    EXPECT_EQ(calls().hangup(withQuery("POST", "/api/v1/webrtc/calls/hangup", "call_id=rtc_fake_1", token())).status,
              404);
    EXPECT_TRUE(sessions_.ended.empty());
    const auto response =
        calls().hangup(withQuery("POST", "/api/v1/webrtc/calls/hangup", "call_id=rtc_fake_1", secret));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, R"({"ok":true})");
    ASSERT_EQ(sessions_.ended.size(), 1u);
    EXPECT_EQ(sessions_.ended[0], std::make_pair(std::string("rtc_fake_1"), std::string("browser_hangup")));
}

TEST_F(WebRtcCallsTest, AHangUpAskedAgainOrAfterTheEndSendsNothingMore) {
    const auto secret = token();
    calls().create(post(secret));
    const auto request = withQuery("POST", "/api/v1/webrtc/calls/hangup", "call_id=rtc_fake_1", secret);
    EXPECT_EQ(calls().hangup(request).status, 200);
    for (int i = 0; i < 5; ++i) {
        const auto again = calls().hangup(request);
        EXPECT_EQ(again.status, 200);
        EXPECT_EQ(again.body, R"({"ok":true})");
    }
    EXPECT_EQ(sessions_.ended.size(), 1u);
    EXPECT_EQ(requests("hangup_repeated"), 5);

    calls().create(post(secret, kOffer + "a=second-call\r\n"));
    sessions_.launched.at(1).observer->onCallEvent(R"({"type":"call.ended","reason":"closed"})");
    EXPECT_EQ(calls().hangup(withQuery("POST", "/api/v1/webrtc/calls/hangup", "call_id=rtc_fake_2", secret)).status,
              200);
    EXPECT_EQ(sessions_.ended.size(), 1u); // it had ended already
}

TEST_F(WebRtcCallsTest, AnExceptionBeforeTheCallHasItsIdReleasesTheSlot) {
    struct ThrowingCreate final : openai::CallControl {
        openai::CreatedCall create(const std::string&, const std::string&, const std::string&) override {
            throw std::runtime_error("client broken");
        }
        openai::RestResult accept(const std::string&, const std::string&, const std::string&) override { return {}; }
        openai::RestResult reject(const std::string&, int, const std::string&) override { return {}; }
        openai::RestResult refer(const std::string&, const std::string&, const std::string&) override { return {}; }
        openai::RestResult hangup(const std::string&, const std::string&) override { return {}; }
    } openai;
    webrtc::WebRtcCalls calls({store_, ledger_, openai, &tools_, sessions_, metrics_, clock_}, pipeline_, options_,
                              logs_);
    EXPECT_THROW(calls.create(post(token())), std::runtime_error); // the router answers it 500
    EXPECT_EQ(ledger_.total().inUse(), 0);
}

namespace {

// OpenAI's idempotency: a create sent again with the same key answers the call it created first.
class IdempotentCreates final : public openai::CallControl {
public:
    explicit IdempotentCreates(FakeCallControl& inner) : inner_(inner) {}
    openai::CreatedCall create(const std::string& sdp, const std::string& session, const std::string& key) override {
        auto& first = byKey_[key];
        if (first.callId.empty()) first = inner_.create(sdp, session, key);
        return first;
    }
    openai::RestResult accept(const std::string& c, const std::string& s, const std::string& k) override {
        return inner_.accept(c, s, k);
    }
    openai::RestResult reject(const std::string& c, int status, const std::string& k) override {
        return inner_.reject(c, status, k);
    }
    openai::RestResult refer(const std::string& c, const std::string& t, const std::string& k) override {
        return inner_.refer(c, t, k);
    }
    openai::RestResult hangup(const std::string& c, const std::string& k) override { return inner_.hangup(c, k); }

private:
    FakeCallControl& inner_;
    std::map<std::string, openai::CreatedCall> byKey_;
};

} // namespace

TEST_F(WebRtcCallsTest, TheSameOfferReachingAnotherReplicaIsAnsweredWithTheSameCallAndOneSession) {
    IdempotentCreates openai(rest_);
    const calls::PipelineServices services{store_, ledger_, openai, &tools_, sessions_, metrics_, clock_};
    webrtc::CallEventLogs otherLogs{100};
    webrtc::WebRtcCalls replicaA(services, pipeline_, options_, logs_);
    webrtc::WebRtcCalls replicaB(services, pipeline_, options_, otherLogs);
    const auto secret = token();
    const auto first = replicaA.create(post(secret));
    const auto again = replicaB.create(post(secret)); // OpenAI answers the call it created first
    EXPECT_EQ(first.status, 201);
    EXPECT_EQ(again.status, 201);
    EXPECT_EQ(again.body, first.body);
    EXPECT_EQ(header(again, "X-Sideband-Call-Id"), "rtc_fake_1");
    EXPECT_EQ(sessions_.launched.size(), 1u);
    EXPECT_EQ(ledger_.total().inUse(), 1);
    EXPECT_EQ(requests("repeated"), 1);
}

TEST_F(WebRtcCallsTest, ACallOfAnOriginBoundTokenNeedsItsOriginButItsSameOriginEventLogDoesNot) {
    const auto secret = token("acme", {"https://shop.example"});
    EXPECT_EQ(calls().create(post(secret)).status, 403); // no Origin: not from a page of that origin
    ASSERT_EQ(calls().create(post(secret, kOffer, "application/sdp", "https://shop.example")).status, 201);
    auto events = withQuery("GET", "/api/v1/webrtc/calls/events", "call_id=rtc_fake_1", secret);
    EXPECT_EQ(calls().events(events).status, 200); // browsers send no Origin on a same-origin GET
    events.headers.emplace_back("origin", "https://evil.example");
    EXPECT_EQ(calls().events(events).status, 403);
}
