// The webhook sender signs exactly as OpenAI does: sideband's own verifier must accept it.
#include "FakeHost.h"
#include "TestCertificates.h"
#include "WebhookSender.h"

#include "core/Clock.h"
#include "core/Json.h"
#include "webhook/WebhookSignature.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <gtest/gtest.h>

using namespace sideband;
using namespace sideband::simulator;
using namespace sideband::testing;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

WebhookSenderOptions senderFor(const FakeHost& host, bool tls, const std::string& secret = kSecret) {
    WebhookSenderOptions options;
    options.url = host.webhookUrl();
    options.caFile = tls ? TestCertificates::shared().caFile() : "";
    options.secret = secret;
    return options;
}

} // namespace

TEST(WebhookSender, SignatureMatchesTheReferenceTestVector) {
    WebhookSenderOptions options;
    options.url = "https://127.0.0.1:1/webhook";
    options.secret = "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=";
    const WebhookSender sender(options);
    const auto event = makeRawEvent(
        R"({"id": "evt_685c059ae3a481909bdc86819b066fb6", "object": "event", "created_at": 1750861210, "type": "response.completed", "data": {"id": "resp_123"}})",
        "wh_685c059ae39c8190af8c71ed1022a24d");
    const auto headers = sender.signatureHeaders(event, 1750861210);
    EXPECT_EQ(headers.at("webhook-signature"), "v1,gUAg4R2hWouRZqRQG4uJypNS8YK885G838+EHb4nKBY=");
    EXPECT_EQ(headers.at("webhook-timestamp"), "1750861210");
    EXPECT_EQ(headers.at("webhook-id"), "wh_685c059ae39c8190af8c71ed1022a24d");
    EXPECT_EQ(event.eventId, "evt_685c059ae3a481909bdc86819b066fb6");
}

TEST(WebhookSender, IncomingCallBodyHasTheReferenceShape) {
    IncomingCall call;
    call.from = "+14155550100";
    call.fromName = "Alice";
    call.to = "+18005550123";
    call.extraSipHeaders = {{"Diversion", "<sip:+18005550000@carrier.example>"}};
    const auto event = makeIncomingCallEvent(call);
    EXPECT_EQ(event.webhookId.rfind("wh_", 0), 0u);
    EXPECT_EQ(event.eventId.rfind("evt_", 0), 0u);
    EXPECT_EQ(event.callId.rfind("rtc_", 0), 0u);
    const auto body = json::parse(event.body).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(body->getValue<std::string>("object"), "event");
    EXPECT_EQ(body->getValue<std::string>("id"), event.eventId);
    EXPECT_EQ(body->getValue<std::string>("type"), "realtime.call.incoming");
    EXPECT_TRUE(body->get("created_at").isInteger());
    const auto data = body->getObject("data");
    EXPECT_EQ(data->getValue<std::string>("call_id"), event.callId);
    const auto headers = data->getArray("sip_headers");
    ASSERT_EQ(headers->size(), 4u);
    EXPECT_EQ(headers->getObject(0)->getValue<std::string>("name"), "From");
    const auto from = headers->getObject(0)->getValue<std::string>("value");
    EXPECT_EQ(from.rfind("\"Alice\" <sip:+14155550100@", 0), 0u) << from;
    EXPECT_NE(from.find(";tag="), std::string::npos);
    EXPECT_EQ(headers->getObject(1)->getValue<std::string>("value"), "<sip:+18005550123@sip.api.openai.com>");
    EXPECT_EQ(headers->getObject(2)->getValue<std::string>("name"), "Call-ID");
    EXPECT_EQ(headers->getObject(3)->getValue<std::string>("name"), "Diversion");
}

TEST(WebhookSender, CallEndedEventNamesTheCall) {
    const auto event = makeCallEvent("realtime.call.ended", "rtc_9");
    const auto body = json::parse(event.body).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(body->getValue<std::string>("type"), "realtime.call.ended");
    EXPECT_EQ(body->getObject("data")->getValue<std::string>("call_id"), "rtc_9");
}

class WebhookDeliveryTest : public ::testing::TestWithParam<bool> {};

TEST_P(WebhookDeliveryTest, DeliveriesVerifyWithSidebandsVerifier) {
    const bool tls = GetParam();
    FakeHost host(kSecret, tls, 1, false);
    const WebhookSender sender(senderFor(host, tls));
    const auto event = makeCallEvent("realtime.call.ended", "rtc_1");
    const auto delivery = sender.deliver(event);
    EXPECT_EQ(delivery.error, "");
    EXPECT_EQ(delivery.status, 200);
    EXPECT_EQ(delivery.body, R"({"ok":true})");
    const auto received = host.deliveries();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].verified, webhook::VerifyResult::Ok);
    EXPECT_EQ(received[0].body, event.body);
    EXPECT_EQ(received[0].headers.at("content-type"), "application/json");
    EXPECT_EQ(received[0].headers.at("user-agent").rfind("OpenAI/1.0", 0), 0u);
}

TEST_P(WebhookDeliveryTest, RedeliveryRepeatsIdsAndBody) {
    const bool tls = GetParam();
    FakeHost host(kSecret, tls, 1, false);
    const WebhookSender sender(senderFor(host, tls));
    const auto event = makeCallEvent("realtime.call.hangup", "rtc_1");
    sender.deliver(event);
    sender.deliver(event);
    const auto received = host.deliveries();
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].headers.at("webhook-id"), received[1].headers.at("webhook-id"));
    EXPECT_EQ(received[0].body, received[1].body);
    EXPECT_EQ(received[1].verified, webhook::VerifyResult::Ok);
}

TEST_P(WebhookDeliveryTest, WrongSecretIsRefusedByTheHost) {
    const bool tls = GetParam();
    FakeHost host(kSecret, tls, 1, false);
    const WebhookSender sender(senderFor(host, tls, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    EXPECT_EQ(sender.deliver(makeCallEvent("realtime.call.ended", "rtc_1")).status, 401);
}

INSTANTIATE_TEST_SUITE_P(Transports, WebhookDeliveryTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "https" : "http"; });

TEST(WebhookSender, UnverifiableHostCertificateIsAnError) {
    FakeHost host(kSecret, true, 1, false);
    auto options = senderFor(host, true);
    options.caFile = "/etc/ssl/certs/ca-certificates.crt"; // the system CAs do not know the test CA
    const WebhookSender sender(options);
    const auto delivery = sender.deliver(makeCallEvent("realtime.call.ended", "rtc_1"));
    EXPECT_EQ(delivery.status, 0);
    EXPECT_NE(delivery.error, "");
    EXPECT_TRUE(host.deliveries().empty());
}

TEST(WebhookSender, RejectsBadConfiguration) {
    WebhookSenderOptions options;
    options.url = "ftp://127.0.0.1/x";
    options.secret = kSecret;
    EXPECT_THROW(WebhookSender{options}, std::invalid_argument);
    options.url = "http://127.0.0.1:1/x";
    options.secret = "";
    EXPECT_THROW(WebhookSender{options}, std::invalid_argument);
}
