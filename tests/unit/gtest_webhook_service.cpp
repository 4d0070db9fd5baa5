// The front door's decision procedure, without sockets: verify, parse, ignore, dedup, route.
#include "metrics/SidebandMetrics.h"
#include "webhook/WebhookService.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace sideband;
using namespace sideband::webhook;
using ::testing::_;
using ::testing::Field;
using ::testing::Return;

namespace {

class MockHandler : public WebhookEventHandler {
public:
    MOCK_METHOD(WebhookResponse, handle, (const WebhookEvent&), (override));
};

constexpr long long kNow = 1750000000;
const std::string kKey = "test-secret";

class WebhookServiceTest : public ::testing::Test {
protected:
    WebhookServiceTest() : verifier_({kKey}, clock_), dedup_(clock_), service_(verifier_, dedup_, router_, metrics_) {
        metrics::declareSidebandMetrics(metrics_);
        router_.add("realtime.call.incoming", incoming_);
        router_.add("realtime.call.ended", ended_);
    }

    WebhookResponse deliver(const std::string& body, const std::string& webhookId = "wh_1") {
        const auto ts = std::to_string(kNow);
        return service_.handle({webhookId, ts, "v1," + computeSignature(kKey, webhookId, ts, body)}, body);
    }

    static std::string incomingCall(const std::string& id = "evt_1", const std::string& callId = "rtc_1") {
        return R"({"id":")" + id + R"(","type":"realtime.call.incoming","data":{"call_id":")" + callId + R"("}})";
    }

    double webhooks(const std::string& type, const std::string& outcome) {
        return metrics_.value(metrics::name::kWebhooks, {{"type", type}, {"outcome", outcome}});
    }

    ManualClock clock_{std::chrono::seconds{kNow}};
    WebhookVerifier verifier_;
    InMemoryWebhookDeduplicator dedup_;
    WebhookRouter router_;
    metrics::MetricsRegistry metrics_;
    WebhookService service_;
    std::shared_ptr<MockHandler> incoming_ = std::make_shared<MockHandler>();
    std::shared_ptr<MockHandler> ended_ = std::make_shared<MockHandler>();
};

} // namespace

TEST_F(WebhookServiceTest, InvalidSignatureIs401AndReachesNoHandler) {
    EXPECT_CALL(*incoming_, handle(_)).Times(0);
    const auto body = incomingCall();
    const auto answer = service_.handle({"wh_1", std::to_string(kNow), "v1,AAAA"}, body);
    EXPECT_EQ(answer, (WebhookResponse{401, R"({"detail":"Invalid signature"})"}));
    EXPECT_EQ(webhooks("unknown", "invalid_signature"), 1);
}

TEST_F(WebhookServiceTest, VerifiedButMalformedIs400) {
    EXPECT_EQ(deliver("{not json"), (WebhookResponse{400, R"({"detail":"Invalid webhook request"})"}));
}

TEST_F(WebhookServiceTest, MissingWebhookIdIsIgnored) {
    EXPECT_EQ(deliver(R"({"type":"realtime.call.incoming","data":{"call_id":"rtc_1"}})"),
              (WebhookResponse{200, R"({"ok":true,"ignored":true,"reason":"missing_webhook_id"})"}));
}

TEST_F(WebhookServiceTest, MissingCallIdIsIgnored) {
    EXPECT_CALL(*incoming_, handle(_)).Times(0);
    EXPECT_EQ(deliver(R"({"id":"evt_1","type":"realtime.call.incoming","data":{}})"),
              (WebhookResponse{200, R"({"ok":true,"ignored":true,"reason":"missing_call_id"})"}));
}

TEST_F(WebhookServiceTest, UnknownTypeIsIgnoredAndLabelledOther) {
    EXPECT_EQ(deliver(R"({"id":"evt_1","type":"response.completed","data":{"id":"resp_1"}})"),
              (WebhookResponse{200, R"({"ok":true,"ignored":true,"reason":"unsupported_event_type"})"}));
    EXPECT_EQ(webhooks("other", "ignored"), 1);
}

TEST_F(WebhookServiceTest, RoutesEachTypeToItsHandler) {
    EXPECT_CALL(*incoming_, handle(Field(&WebhookEvent::callId, "rtc_1"))).WillOnce(Return(WebhookResponse::ok()));
    EXPECT_CALL(*ended_, handle(Field(&WebhookEvent::callId, "rtc_2"))).WillOnce(Return(WebhookResponse::ok()));
    EXPECT_EQ(deliver(incomingCall("evt_1", "rtc_1"), "wh_1"), WebhookResponse::ok());
    EXPECT_EQ(deliver(R"({"id":"evt_2","type":"realtime.call.ended","data":{"call_id":"rtc_2"}})", "wh_2"),
              WebhookResponse::ok());
    EXPECT_EQ(webhooks("realtime.call.incoming", "processed"), 1);
}

TEST_F(WebhookServiceTest, RedeliveryIsDedupedAndNotProcessedTwice) {
    EXPECT_CALL(*incoming_, handle(_)).Times(1).WillOnce(Return(WebhookResponse::ok()));
    deliver(incomingCall());
    EXPECT_EQ(deliver(incomingCall()), (WebhookResponse{200, R"({"ok":true,"deduped":true})"}));
}

TEST_F(WebhookServiceTest, DedupKeyIsTheEventIdNotTheDeliveryHeader) {
    EXPECT_CALL(*incoming_, handle(_)).Times(1).WillOnce(Return(WebhookResponse::ok()));
    deliver(incomingCall("evt_1"), "wh_a");
    EXPECT_EQ(deliver(incomingCall("evt_1"), "wh_b"), WebhookResponse::deduped());
}

TEST_F(WebhookServiceTest, DeliveryThatFailedWith5xxIsProcessedOnRedelivery) {
    EXPECT_CALL(*incoming_, handle(_))
        .WillOnce(Return(WebhookResponse::internalError()))
        .WillOnce(Return(WebhookResponse::ok()));
    EXPECT_EQ(deliver(incomingCall()).status, 500);
    EXPECT_EQ(deliver(incomingCall()), WebhookResponse::ok());
    EXPECT_EQ(webhooks("realtime.call.incoming", "failed"), 1);
}

TEST_F(WebhookServiceTest, HandlerExceptionIs500AndNotMarkedSeen) {
    EXPECT_CALL(*incoming_, handle(_))
        .WillOnce([](const WebhookEvent&) -> WebhookResponse { throw std::runtime_error("boom"); })
        .WillOnce(Return(WebhookResponse::ok()));
    EXPECT_EQ(deliver(incomingCall()), (WebhookResponse{500, R"({"detail":"Internal error"})"}));
    EXPECT_EQ(deliver(incomingCall()), WebhookResponse::ok());
}

TEST_F(WebhookServiceTest, RecordsHandlingTimeForEveryDelivery) {
    EXPECT_CALL(*incoming_, handle(_)).WillOnce(Return(WebhookResponse::ok()));
    deliver(incomingCall());
    EXPECT_EQ(metrics_.observations(metrics::name::kWebhookSeconds, {{"type", "realtime.call.incoming"}}), 1u);
}

namespace {

// A shared deduplicator (Redis in a fleet): every claim is a network round trip, and it may fail.
class RemoteDeduplicator : public WebhookDeduplicator {
public:
    MOCK_METHOD(Claim, claim, (const std::string&), (override));
    MOCK_METHOD(void, complete, (const std::string&), (override));
    MOCK_METHOD(void, abandon, (const std::string&), (override));
    bool remote() const override { return true; }
};

class RemoteDedupWebhookServiceTest : public ::testing::Test {
protected:
    RemoteDedupWebhookServiceTest() : verifier_({kKey}, clock_), service_(verifier_, dedup_, router_, metrics_) {
        metrics::declareSidebandMetrics(metrics_);
        router_.add("realtime.call.incoming", incoming_);
    }

    WebhookService::Triage triage(const std::string& webhookId = "evt_1") {
        const auto body = R"({"id":")" + webhookId + R"(","type":"realtime.call.incoming","data":{"call_id":"rtc_1"}})";
        const auto ts = std::to_string(kNow);
        return service_.triage({webhookId, ts, "v1," + computeSignature(kKey, webhookId, ts, body)}, body);
    }

    ManualClock clock_{std::chrono::seconds{kNow}};
    WebhookVerifier verifier_;
    ::testing::StrictMock<RemoteDeduplicator> dedup_;
    WebhookRouter router_;
    metrics::MetricsRegistry metrics_;
    WebhookService service_;
    std::shared_ptr<MockHandler> incoming_ = std::make_shared<MockHandler>();
};

} // namespace

TEST_F(RemoteDedupWebhookServiceTest, TriageOnTheEventLoopNeverAsksTheSharedDeduplicator) {
    auto triaged = triage(); // StrictMock: any claim here fails the test
    EXPECT_FALSE(triaged.answer);
    EXPECT_FALSE(triaged.claimed);
}

TEST_F(RemoteDedupWebhookServiceTest, TheWorkerClaimsThenCompletesANewEvent) {
    auto triaged = triage();
    ::testing::InSequence order;
    EXPECT_CALL(dedup_, claim("evt_1")).WillOnce(Return(WebhookDeduplicator::Claim::New));
    EXPECT_CALL(*incoming_, handle(_)).WillOnce(Return(WebhookResponse::ok()));
    EXPECT_CALL(dedup_, complete("evt_1"));
    EXPECT_EQ(service_.finish(triaged), WebhookResponse::ok());
}

TEST_F(RemoteDedupWebhookServiceTest, ARedeliverySeenByAnotherReplicaIsDedupedOnTheWorker) {
    auto triaged = triage();
    EXPECT_CALL(dedup_, claim("evt_1")).WillOnce(Return(WebhookDeduplicator::Claim::Duplicate));
    EXPECT_CALL(*incoming_, handle(_)).Times(0);
    EXPECT_EQ(service_.finish(triaged), (WebhookResponse{200, R"({"ok":true,"deduped":true})"}));
    EXPECT_EQ(metrics_.value(metrics::name::kWebhooks, {{"type", "realtime.call.incoming"}, {"outcome", "deduped"}}),
              1);
}

TEST_F(RemoteDedupWebhookServiceTest, AnUnreachableDeduplicatorLetsTheEventThroughUnclaimedAndCountsIt) {
    auto triaged = triage();
    EXPECT_CALL(dedup_, claim("evt_1")).WillOnce(::testing::Throw(std::runtime_error("redis: unreachable")));
    EXPECT_CALL(*incoming_, handle(_)).WillOnce(Return(WebhookResponse{200, R"({"ok":true,"rejected":"capacity"})"}));
    // Neither complete nor abandon: nothing was claimed (StrictMock).
    EXPECT_EQ(service_.finish(triaged).body, R"({"ok":true,"rejected":"capacity"})");
    EXPECT_EQ(metrics_.value(metrics::name::kWebhookUnclaimed), 1);
}

TEST_F(RemoteDedupWebhookServiceTest, AnEventTurnedAwayForWantOfAWorkerWasNeverClaimedSoNothingIsAbandoned) {
    auto triaged = triage();
    service_.release(triaged); // StrictMock: an abandon here fails the test
    EXPECT_EQ(metrics_.value(metrics::name::kWebhooks, {{"type", "realtime.call.incoming"}, {"outcome", "busy"}}), 1);
}
