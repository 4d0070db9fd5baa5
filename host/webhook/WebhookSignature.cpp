#include "webhook/WebhookSignature.h"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/Crypto/DigestEngine.h>
#include <Poco/HMACEngine.h>
#include <Poco/StringTokenizer.h>

#include <openssl/crypto.h>

#include <sstream>
#include <stdexcept>

namespace sideband::webhook {
namespace {

// OpenSSL's SHA-256 (through Poco::Crypto), not Poco::SHA2Engine: every delivery, a redelivery
// included, is hashed on the event loop, and OpenSSL's uses the CPU's SHA extensions (several
// times faster). Poco 1.11's HMACEngine needs BLOCK_SIZE/DIGEST_SIZE, which DigestEngine does not declare.
class Sha256Engine : public Poco::Crypto::DigestEngine {
public:
    enum { BLOCK_SIZE = 64, DIGEST_SIZE = 32 };
    Sha256Engine() : Poco::Crypto::DigestEngine("SHA256") {}
};

bool base64Decode(std::string_view text, std::string& out) {
    if (text.empty()) return false;
    for (char c : text) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
        if (!ok) return false;
    }
    try {
        std::istringstream in{std::string(text)};
        Poco::Base64Decoder decoder(in);
        out.assign(std::istreambuf_iterator<char>(decoder), std::istreambuf_iterator<char>());
        return true;
    } catch (const Poco::Exception&) {
        return false;
    }
}

std::string base64Encode(const std::vector<unsigned char>& bytes) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);
    encoder.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    encoder.close();
    return out.str();
}

// Strict: digits only. NumberParser would accept signs and surrounding blanks.
bool parseTimestamp(const std::string& text, long long& seconds) {
    if (text.empty() || text.size() > 18) return false;
    seconds = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        seconds = seconds * 10 + (c - '0');
    }
    return true;
}

std::vector<unsigned char> hmacSha256(const std::string& key, std::string_view id, std::string_view timestamp,
                                      std::string_view body) {
    Poco::HMACEngine<Sha256Engine> hmac(key);
    hmac.update(id.data(), static_cast<unsigned>(id.size()));
    hmac.update('.');
    hmac.update(timestamp.data(), static_cast<unsigned>(timestamp.size()));
    hmac.update('.');
    hmac.update(body.data(), static_cast<unsigned>(body.size()));
    return hmac.digest();
}

} // namespace

std::vector<std::string> parseWebhookSecrets(const std::string& configured) {
    std::vector<std::string> keys;
    Poco::StringTokenizer tokens(configured, " ,\t\n", Poco::StringTokenizer::TOK_IGNORE_EMPTY);
    for (const auto& token : tokens) {
        static const std::string prefix = "whsec_";
        if (token.compare(0, prefix.size(), prefix) == 0) {
            std::string key;
            if (!base64Decode(std::string_view(token).substr(prefix.size()), key))
                throw std::invalid_argument("a whsec_ webhook secret is not valid base64");
            keys.push_back(std::move(key));
        } else {
            keys.push_back(token);
        }
    }
    return keys;
}

std::string computeSignature(const std::string& key, std::string_view id, std::string_view timestamp,
                             std::string_view body) {
    return base64Encode(hmacSha256(key, id, timestamp, body));
}

const char* describe(VerifyResult result) {
    switch (result) {
    case VerifyResult::Ok: return "ok";
    case VerifyResult::MissingHeaders: return "missing signature headers";
    case VerifyResult::InvalidTimestamp: return "timestamp is not an integer";
    case VerifyResult::TimestampTooOld: return "timestamp older than tolerance";
    case VerifyResult::TimestampTooNew: return "timestamp newer than tolerance";
    case VerifyResult::NoMatchingSignature: return "no signature matches";
    }
    return "unknown";
}

WebhookVerifier::WebhookVerifier(std::vector<std::string> keys, const Clock& clock, std::chrono::seconds tolerance)
    : keys_(std::move(keys)), clock_(clock), tolerance_(tolerance) {}

VerifyResult WebhookVerifier::verify(const SignatureHeaders& headers, std::string_view rawBody) const {
    if (headers.id.empty() || headers.timestamp.empty() || headers.signature.empty())
        return VerifyResult::MissingHeaders;

    long long timestamp = 0;
    if (!parseTimestamp(headers.timestamp, timestamp)) return VerifyResult::InvalidTimestamp;
    const long long now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
    if (now - timestamp > tolerance_.count()) return VerifyResult::TimestampTooOld;
    if (timestamp - now > tolerance_.count()) return VerifyResult::TimestampTooNew;

    std::vector<std::vector<unsigned char>> expected;
    expected.reserve(keys_.size());
    for (const auto& key : keys_) expected.push_back(hmacSha256(key, headers.id, headers.timestamp, rawBody));

    Poco::StringTokenizer entries(headers.signature, " ", Poco::StringTokenizer::TOK_IGNORE_EMPTY);
    for (const auto& entry : entries) {
        // Only "v1,<base64>" is defined; other versions are skipped so a future scheme is not fatal.
        if (entry.compare(0, 3, "v1,") != 0) continue;
        std::string candidate;
        if (!base64Decode(std::string_view(entry).substr(3), candidate)) continue;
        for (const auto& digest : expected) {
            if (candidate.size() == digest.size() &&
                CRYPTO_memcmp(candidate.data(), digest.data(), digest.size()) == 0)
                return VerifyResult::Ok;
        }
    }
    return VerifyResult::NoMatchingSignature;
}

} // namespace sideband::webhook
