// libFuzzer target: WebhookVerifier::verify (Standard Webhooks signatures) on carved headers.
// Input: "<webhook-id>\n<webhook-timestamp>\n<webhook-signature>\n<body>"; the body is the rest.
// Properties (abort when violated):
//   - verify never throws or crashes on any headers/body;
//   - a "v1,"+computeSignature(key, id, timestamp, body) signature verifies Ok whenever the id is
//     non-empty and the timestamp is digits within tolerance of the clock;
//   - the same signature with one byte of the body flipped does not verify;
//   - a signature computed with another key does not verify.
#include "FuzzSupport.h"

#include "core/Clock.h"
#include "webhook/WebhookSignature.h"

#include <chrono>
#include <cstdint>
#include <string>

using namespace sideband;
using namespace sideband::webhook;

namespace {
const std::string kKey = "fuzz-signing-key-0123456789abcdef";
constexpr long long kNow = 1735689600; // 2025-01-01T00:00:00Z

bool digitsOnly(const std::string& s) {
    if (s.empty() || s.size() > 18) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogging();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Carver carver(data, size);
    SignatureHeaders headers;
    headers.id = carver.next();
    headers.timestamp = carver.next();
    headers.signature = carver.next();
    const std::string body = carver.rest();

    // The clock: pinned at kNow, or (first byte odd) at the input's own timestamp so the in-tolerance
    // path is reached whatever the fuzzer writes there.
    long long now = kNow;
    // (A ManualClock holds nanoseconds: only times up to ~year 2262 are representable.)
    if (size > 0 && (data[0] & 1) && digitsOnly(headers.timestamp) && std::stoll(headers.timestamp) < 9'000'000'000LL)
        now = std::stoll(headers.timestamp);
    ManualClock clock{std::chrono::seconds(now)};
    const WebhookVerifier verifier({kKey}, clock);

    // Arbitrary headers: only must not crash or throw.
    (void)describe(verifier.verify(headers, body));

    // Round trip with a correct signature.
    const std::string good = "v1," + computeSignature(kKey, headers.id, headers.timestamp, body);
    SignatureHeaders signedHeaders = headers;
    signedHeaders.signature = good;
    const VerifyResult result = verifier.verify(signedHeaders, body);
    const bool inTolerance = digitsOnly(headers.timestamp) &&
                             std::stoll(headers.timestamp) - now <= WebhookVerifier::kDefaultTolerance.count() &&
                             now - std::stoll(headers.timestamp) <= WebhookVerifier::kDefaultTolerance.count();
    if (!headers.id.empty() && inTolerance) FUZZ_CHECK(result == VerifyResult::Ok);
    if (result == VerifyResult::Ok) {
        FUZZ_CHECK(!headers.id.empty() && inTolerance);
        // Several signatures, the good one last (rotation), still verify.
        signedHeaders.signature = "v2,abc v1,AAAA " + good;
        FUZZ_CHECK(verifier.verify(signedHeaders, body) == VerifyResult::Ok);
        signedHeaders.signature = good;

        // One flipped body byte must fail.
        if (!body.empty()) {
            std::string tampered = body;
            const std::size_t at = (size > 1 ? data[1] : 0) % tampered.size();
            tampered[at] = static_cast<char>(tampered[at] ^ 0x01);
            FUZZ_CHECK(verifier.verify(signedHeaders, tampered) == VerifyResult::NoMatchingSignature);
        }
        // A body with a byte appended must fail (no length confusion).
        FUZZ_CHECK(verifier.verify(signedHeaders, body + "x") == VerifyResult::NoMatchingSignature);
        // Another key's signature must fail.
        signedHeaders.signature = "v1," + computeSignature(kKey + "!", headers.id, headers.timestamp, body);
        FUZZ_CHECK(verifier.verify(signedHeaders, body) == VerifyResult::NoMatchingSignature);
    }
    return 0;
}
