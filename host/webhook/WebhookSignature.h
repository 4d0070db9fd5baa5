#pragma once

#include "core/Clock.h"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace sideband::webhook {

// The three Standard Webhooks headers, as received (names are matched case-insensitively by the
// HTTP layer).
struct SignatureHeaders {
    std::string id;
    std::string timestamp;
    std::string signature;
};

// Parses OPENAI_WEBHOOK_SECRET: one or more secrets separated by spaces or commas (rotation).
// `whsec_` secrets are base64-decoded after the prefix; others are used as raw bytes.
// Throws std::invalid_argument (without echoing the secret) on an undecodable `whsec_` value.
std::vector<std::string> parseWebhookSecrets(const std::string& configured);

// base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), without the "v1," prefix.
std::string computeSignature(const std::string& key, std::string_view id, std::string_view timestamp,
                             std::string_view body);

enum class VerifyResult {
    Ok,
    MissingHeaders,
    InvalidTimestamp,
    TimestampTooOld,
    TimestampTooNew,
    NoMatchingSignature,
};
const char* describe(VerifyResult result);

// Verifies Standard Webhooks signatures (the scheme OpenAI's SDKs implement in webhooks.unwrap).
class WebhookVerifier {
public:
    static constexpr std::chrono::seconds kDefaultTolerance{300};

    WebhookVerifier(std::vector<std::string> keys, const Clock& clock,
                    std::chrono::seconds tolerance = kDefaultTolerance);

    VerifyResult verify(const SignatureHeaders& headers, std::string_view rawBody) const;

private:
    std::vector<std::string> keys_;
    const Clock& clock_;
    std::chrono::seconds tolerance_;
};

} // namespace sideband::webhook
