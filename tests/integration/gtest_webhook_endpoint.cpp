// The real host, started in-process on a free port, answering real HTTP(S) requests.
#include "RawHttpConnection.h"
#include "TestCertificates.h"
#include "TestHttpClient.h"
#include "TransportMode.h"

#include "app/Host.h"
#include "webhook/WebhookSignature.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <regex>
#include <string>

using namespace sideband;
using namespace sideband::testing;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string kKey = webhook::parseWebhookSecrets(kSecret).front();

class WebhookEndpointTest : public ::testing::TestWithParam<TransportMode> {
protected:
    void SetUp() override {
        Settings settings;
        settings.listen = "127.0.0.1:0";
        settings.webhookSecret = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA " + kSecret; // rotation: two secrets
        settings.openaiApiKey = "sk-test";
        settings.httpThreads = 4;
        settings.database = "sqlite:" + dir_.file("sideband.db");
        settings.pluginDir = dir_.path();
        settings.openaiBaseUrl = "http://127.0.0.1:1/v1"; // nothing listens: call control fails at once, locally
        if (GetParam().tls) {
            settings.tlsCert = TestCertificates::shared().certFile();
            settings.tlsKey = TestCertificates::shared().keyFile();
        } else {
            settings.insecureHttp = true;
        }
        host_ = std::make_unique<Host>(settings);
        host_->start();
        client_ = std::make_unique<TestHttpClient>("127.0.0.1", host_->port(),
                                                   GetParam().tls ? TestCertificates::shared().caFile() : "");
    }

    HttpResult deliver(const std::string& body, const std::string& webhookId = "wh_test") {
        return client_->request("POST", "/api/v1/openai/webhook", body, signedHeaders(kKey, webhookId, body));
    }

    TempDir dir_;
    std::unique_ptr<Host> host_;
    std::unique_ptr<TestHttpClient> client_;
};

const std::string kIncoming =
    R"({"object":"event","id":"evt_1","type":"realtime.call.incoming","created_at":1750287018,)"
    R"("data":{"call_id":"rtc_1","sip_headers":[{"name":"From","value":"<sip:+14155550100@example.com>"},)"
    R"({"name":"To","value":"<sip:+18005550123@sip.api.openai.com>"}]}})";

} // namespace

TEST_P(WebhookEndpointTest, SignedIncomingCallIsAnswered200) {
    const auto r = deliver(kIncoming);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"ok":true,"rejected":"tenant_resolve_failed"})"); // no tenant owns the number
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
}

TEST_P(WebhookEndpointTest, BadSignatureIs401) {
    auto headers = signedHeaders(kKey, "wh_test", kIncoming);
    headers["webhook-signature"] = "v1,Zm9vYmFy";
    const auto r = client_->request("POST", "/api/v1/openai/webhook", kIncoming, headers);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body, R"({"detail":"Invalid signature"})");
}

TEST_P(WebhookEndpointTest, MissingSignatureHeadersIs401) {
    const auto r = client_->request("POST", "/api/v1/openai/webhook", kIncoming);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body, R"({"detail":"Invalid signature"})");
}

TEST_P(WebhookEndpointTest, StaleTimestampIs401) {
    const auto r = client_->request("POST", "/api/v1/openai/webhook", kIncoming,
                                    signedHeaders(kKey, "wh_test", kIncoming, 1614265330));
    EXPECT_EQ(r.status, 401);
}

TEST_P(WebhookEndpointTest, HeaderNamesMatchCaseInsensitively) {
    std::map<std::string, std::string> shouting;
    for (const auto& [name, value] : signedHeaders(kKey, "wh_test", kIncoming))
        shouting["WEBHOOK-" + name.substr(8)] = value;
    EXPECT_EQ(client_->request("POST", "/api/v1/openai/webhook", kIncoming, shouting).status, 200);
}

TEST_P(WebhookEndpointTest, MalformedBodyIs400) {
    const auto r = deliver(R"({"type":)");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, R"({"detail":"Invalid webhook request"})");
}

TEST_P(WebhookEndpointTest, WrongShapeIs400) {
    const auto r = deliver(R"({"id":"evt_1","type":"realtime.call.incoming","data":{"call_id":["x"]}})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, R"({"detail":"Invalid webhook request"})");
}

TEST_P(WebhookEndpointTest, MissingWebhookIdIsIgnored) {
    const auto r = deliver(R"({"type":"realtime.call.incoming","data":{"call_id":"rtc_1"}})");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"ok":true,"ignored":true,"reason":"missing_webhook_id"})");
}

TEST_P(WebhookEndpointTest, MissingCallIdIsIgnored) {
    const auto r = deliver(R"({"id":"evt_9","type":"realtime.call.incoming","data":{}})");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"ok":true,"ignored":true,"reason":"missing_call_id"})");
}

TEST_P(WebhookEndpointTest, UnsupportedTypeIsIgnored) {
    const auto r = deliver(R"({"id":"evt_9","type":"response.completed","data":{"id":"resp_1"}})");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"ok":true,"ignored":true,"reason":"unsupported_event_type"})");
}

TEST_P(WebhookEndpointTest, RedeliveryIsDeduped) {
    ASSERT_EQ(deliver(kIncoming).status, 200);
    const auto r = deliver(kIncoming);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"ok":true,"deduped":true})");
}

TEST_P(WebhookEndpointTest, EndedHangupAndHungupAreRouted) {
    int n = 0;
    for (const char* type : {"realtime.call.ended", "realtime.call.hangup", "realtime.call.hungup"}) {
        const std::string body = std::string(R"({"id":"evt_e)") + std::to_string(++n) + R"(","type":")" + type +
                                 R"(","data":{"call_id":"rtc_1"}})";
        const auto r = deliver(body);
        EXPECT_EQ(r.status, 200) << type;
        EXPECT_EQ(r.body, R"({"ok":true})") << type;
    }
}

TEST_P(WebhookEndpointTest, BodyOverOneMebibyteIs413) {
    const std::string big(1024 * 1024 + 1, ' ');
    const auto r = client_->request("POST", "/api/v1/openai/webhook", big, signedHeaders(kKey, "wh_big", big));
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.body, R"({"detail":"Request body too large"})");
}

TEST_P(WebhookEndpointTest, OtherMethodsAre405) {
    const auto r = client_->request("GET", "/api/v1/openai/webhook");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.body, R"({"detail":"Method not allowed"})");
    EXPECT_EQ(r.headers.at("allow"), "POST");
}

TEST_P(WebhookEndpointTest, UnknownPathIs404) {
    const auto r = client_->request("POST", "/api/v1/openai/other", "{}");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, R"({"detail":"Not found"})");
}

TEST_P(WebhookEndpointTest, HealthAndReadiness) {
    const auto health = client_->get("/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, R"({"status":"ok"})");
    const auto ready = client_->get("/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(ready.body, R"({"status":"ready"})");
}

TEST_P(WebhookEndpointTest, ReadinessFallsWhenStopping) {
    host_->stop();
    EXPECT_FALSE(host_->ready());
}

TEST_P(WebhookEndpointTest, MetricsCountDeliveriesByTypeAndOutcome) {
    deliver(kIncoming);
    deliver(kIncoming);
    const auto r = client_->get("/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find(R"(sideband_webhooks_total{type="realtime.call.incoming",outcome="processed"} 1)"),
              std::string::npos);
    EXPECT_NE(r.body.find(R"(sideband_webhooks_total{type="realtime.call.incoming",outcome="deduped"} 1)"),
              std::string::npos);
}

TEST_P(WebhookEndpointTest, MetricsShowHowLongEachEventLoopsPassesTook) {
    deliver(kIncoming);
    const auto r = client_->get("/metrics");
    EXPECT_EQ(r.status, 200);
    // A series per loop (SIDEBAND_IO_THREADS, 2 by default); the loop serving this connection has
    // passes counted, one of them the delivery's.
    std::uint64_t passes = 0;
    for (const std::string loop : {"io-0", "io-1"}) {
        std::smatch count;
        const std::regex series("sideband_event_loop_iteration_seconds_count\\{loop=\"" + loop + "\"\\} ([0-9]+)\n");
        ASSERT_TRUE(std::regex_search(r.body, count, series)) << r.body;
        passes += std::stoull(count[1]);
        EXPECT_NE(r.body.find("sideband_event_loop_iteration_seconds_bucket{loop=\"" + loop + "\",le=\"0.001\"} "),
                  std::string::npos);
        EXPECT_NE(r.body.find("sideband_event_loop_timer_delay_seconds_count{loop=\"" + loop + "\"} "),
                  std::string::npos);
    }
    EXPECT_GT(passes, 0u);
}

TEST_P(WebhookEndpointTest, SecretsNeverAppearInResponses) {
    for (const auto& r : {deliver(kIncoming), client_->get("/metrics"), client_->get("/readyz")}) {
        EXPECT_EQ(r.body.find("MfKQ9r8G"), std::string::npos);
        EXPECT_EQ(r.body.find("sk-test"), std::string::npos);
    }
}

TEST_P(WebhookEndpointTest, After401ToASignedBodyTheNextRequestOnTheConnectionGetsItsOwnAnswer) {
    RawHttpConnection connection(host_->port(), GetParam().tls ? TestCertificates::shared().caFile() : "");
    const std::string badSignature = "webhook-id: wh_bad\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,Zm9v\r\n";
    connection.send(rawRequest("POST", "/api/v1/openai/webhook", R"({"a":1})", badSignature) +
                    rawChunkedRequest("POST", "/api/v1/openai/webhook", kIncoming) + rawRequest("GET", "/readyz"));
    for (int i = 0; i < 2; ++i) {
        const auto refused = connection.readResponse();
        EXPECT_EQ(refused.statusLine, "HTTP/1.1 401 Unauthorized");
        EXPECT_EQ(refused.body, R"({"detail":"Invalid signature"})");
    }
    const auto ready = connection.readResponse();
    EXPECT_EQ(ready.statusLine, "HTTP/1.1 200 OK");
    EXPECT_EQ(ready.body, R"({"status":"ready"})");
}

INSTANTIATE_TEST_SUITE_P(Transport, WebhookEndpointTest, bothTransports(), transportName);
