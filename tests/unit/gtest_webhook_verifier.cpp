// Standard Webhooks verification, against the test vectors in the wire reference.
#include "webhook/WebhookSignature.h"

#include <gtest/gtest.h>

using namespace sideband;
using namespace sideband::webhook;

namespace {

struct Vector {
    std::string secret, id, timestamp, body, signature;
    long long time;
};
void PrintTo(const Vector& v, std::ostream* out) { *out << v.id; }

const Vector kOpenAI{"whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=",
                     "wh_685c059ae39c8190af8c71ed1022a24d",
                     "1750861210",
                     R"({"id": "evt_685c059ae3a481909bdc86819b066fb6", "object": "event", "created_at": 1750861210, "type": "response.completed", "data": {"id": "resp_123"}})",
                     "v1,gUAg4R2hWouRZqRQG4uJypNS8YK885G838+EHb4nKBY=",
                     1750861210};
const Vector kStandard{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                       R"({"test": 2432232314})", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", 1614265330};

class WebhookVerifierTest : public ::testing::TestWithParam<Vector> {
protected:
    VerifyResult verify(const Vector& v, const std::string& id, const std::string& ts, const std::string& body,
                        const std::string& signature, long long now) {
        ManualClock clock{std::chrono::seconds{now}};
        WebhookVerifier verifier(parseWebhookSecrets(v.secret), clock);
        return verifier.verify({id, ts, signature}, body);
    }
    VerifyResult verify(const Vector& v) { return verify(v, v.id, v.timestamp, v.body, v.signature, v.time); }
};

std::string flipByte(std::string text, std::size_t at) {
    text[at] = static_cast<char>(text[at] ^ 0x01);
    return text;
}

} // namespace

TEST_P(WebhookVerifierTest, AcceptsTheReferenceVector) { EXPECT_EQ(verify(GetParam()), VerifyResult::Ok); }

TEST_P(WebhookVerifierTest, ComputesTheReferenceSignature) {
    const auto& v = GetParam();
    const auto key = parseWebhookSecrets(v.secret).front();
    EXPECT_EQ("v1," + computeSignature(key, v.id, v.timestamp, v.body), v.signature);
}

TEST_P(WebhookVerifierTest, RejectsAnyFlippedByteOfTheId) {
    const auto& v = GetParam();
    for (std::size_t i = 0; i < v.id.size(); ++i)
        EXPECT_EQ(verify(v, flipByte(v.id, i), v.timestamp, v.body, v.signature, v.time),
                  VerifyResult::NoMatchingSignature)
            << "byte " << i;
}

TEST_P(WebhookVerifierTest, RejectsAnyFlippedByteOfTheBody) {
    const auto& v = GetParam();
    for (std::size_t i = 0; i < v.body.size(); ++i)
        EXPECT_EQ(verify(v, v.id, v.timestamp, flipByte(v.body, i), v.signature, v.time),
                  VerifyResult::NoMatchingSignature)
            << "byte " << i;
}

TEST_P(WebhookVerifierTest, RejectsAChangedTimestampEvenWithinTolerance) {
    const auto& v = GetParam();
    const auto shifted = std::to_string(v.time + 1);
    EXPECT_EQ(verify(v, v.id, shifted, v.body, v.signature, v.time), VerifyResult::NoMatchingSignature);
}

TEST_P(WebhookVerifierTest, RejectsAnyFlippedByteOfTheSignature) {
    const auto& v = GetParam();
    // Past "v1,"; a flip may make the base64 invalid or decode to other bytes: both must fail.
    for (std::size_t i = 3; i < v.signature.size() - 1; ++i)
        EXPECT_NE(verify(v, v.id, v.timestamp, v.body, flipByte(v.signature, i), v.time), VerifyResult::Ok)
            << "byte " << i;
}

TEST_P(WebhookVerifierTest, RejectsTimestampOlderThanTolerance) {
    const auto& v = GetParam();
    EXPECT_EQ(verify(v, v.id, v.timestamp, v.body, v.signature, v.time + 300), VerifyResult::Ok);
    EXPECT_EQ(verify(v, v.id, v.timestamp, v.body, v.signature, v.time + 301), VerifyResult::TimestampTooOld);
}

TEST_P(WebhookVerifierTest, RejectsTimestampNewerThanTolerance) {
    const auto& v = GetParam();
    EXPECT_EQ(verify(v, v.id, v.timestamp, v.body, v.signature, v.time - 300), VerifyResult::Ok);
    EXPECT_EQ(verify(v, v.id, v.timestamp, v.body, v.signature, v.time - 301), VerifyResult::TimestampTooNew);
}

TEST_P(WebhookVerifierTest, SkipsUnknownVersionsAndAcceptsAnyMatchingEntry) {
    const auto& v = GetParam();
    EXPECT_EQ(verify(v, v.id, v.timestamp, v.body, "v2,garbage " + v.signature, v.time), VerifyResult::Ok);
    EXPECT_EQ(verify(v, v.id, v.timestamp, v.body, "v1a,abc v1,AAAA " + v.signature, v.time), VerifyResult::Ok);
}

TEST_P(WebhookVerifierTest, RejectsASignatureUnderAnotherVersionPrefix) {
    const auto& v = GetParam();
    EXPECT_EQ(verify(v, v.id, v.timestamp, v.body, "v2," + v.signature.substr(3), v.time),
              VerifyResult::NoMatchingSignature);
}

TEST_P(WebhookVerifierTest, RejectsTheWrongSecret) {
    const auto& v = GetParam();
    ManualClock clock{std::chrono::seconds{v.time}};
    WebhookVerifier verifier(parseWebhookSecrets("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), clock);
    EXPECT_EQ(verifier.verify({v.id, v.timestamp, v.signature}, v.body), VerifyResult::NoMatchingSignature);
}

INSTANTIATE_TEST_SUITE_P(ReferenceVectors, WebhookVerifierTest, ::testing::Values(kOpenAI, kStandard),
                         [](const auto& info) { return info.index == 0 ? std::string("OpenAI") : "StandardWebhooks"; });

TEST(WebhookVerifier, AcceptsWhenAnyOfSeveralSecretsMatches) {
    ManualClock clock{std::chrono::seconds{kStandard.time}};
    for (const auto& configured : {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA " + kStandard.secret,
                                   kStandard.secret + ",whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                   "other-raw-secret , " + kStandard.secret}) {
        WebhookVerifier verifier(parseWebhookSecrets(configured), clock);
        EXPECT_EQ(verifier.verify({kStandard.id, kStandard.timestamp, kStandard.signature}, kStandard.body),
                  VerifyResult::Ok)
            << configured;
    }
}

TEST(WebhookVerifier, RejectsANonIntegerTimestamp) {
    ManualClock clock{std::chrono::seconds{kStandard.time}};
    WebhookVerifier verifier(parseWebhookSecrets(kStandard.secret), clock);
    for (const char* ts : {"1614265330.0", "+1614265330", " 1614265330", "-5", "abc", "16142653300000000000000"})
        EXPECT_EQ(verifier.verify({kStandard.id, ts, kStandard.signature}, kStandard.body),
                  VerifyResult::InvalidTimestamp)
            << ts;
}

TEST(WebhookVerifier, RejectsMissingHeaders) {
    ManualClock clock{std::chrono::seconds{kStandard.time}};
    WebhookVerifier verifier(parseWebhookSecrets(kStandard.secret), clock);
    EXPECT_EQ(verifier.verify({"", kStandard.timestamp, kStandard.signature}, kStandard.body),
              VerifyResult::MissingHeaders);
    EXPECT_EQ(verifier.verify({kStandard.id, "", kStandard.signature}, kStandard.body), VerifyResult::MissingHeaders);
    EXPECT_EQ(verifier.verify({kStandard.id, kStandard.timestamp, ""}, kStandard.body), VerifyResult::MissingHeaders);
}

TEST(WebhookSecrets, UsesASecretWithoutPrefixAsRawBytes) {
    EXPECT_EQ(parseWebhookSecrets("plain-secret"), std::vector<std::string>{"plain-secret"});
}

TEST(WebhookSecrets, SplitsOnSpacesAndCommas) {
    EXPECT_EQ(parseWebhookSecrets(" a, b  c,,d ").size(), 4u);
}

TEST(WebhookSecrets, RefusesUndecodableWhsecWithoutEchoingIt) {
    try {
        parseWebhookSecrets("whsec_not*base64!");
        FAIL() << "expected invalid_argument";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()).find("not*base64"), std::string::npos);
    }
}
