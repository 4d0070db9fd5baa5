#pragma once

#include "tenants/TenantStore.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sideband::tenants {

// A new token: id "wt_" + 12 hex, secret "sbwt_" + id + "_" + 43 chars base64url (32 random bytes,
// from OpenSSL's RAND_bytes). The secret is what the browser sends (`Authorization: Bearer`); the
// store keeps only hashWebTokenSecret(secret). `now` is kept to the millisecond, as the store keeps it.
struct NewWebToken {
    WebToken token;
    std::string secret;
};
NewWebToken makeWebToken(const std::string& tenantId, std::vector<std::string> allowedOrigins, int ratePerMinute,
                         std::chrono::system_clock::time_point now);

// SHA-256 of the secret, lower-case hex (OpenSSL through Poco::Crypto).
std::string hashWebTokenSecret(const std::string& secret);

// The rate a token may be given (calls per minute).
constexpr int kMinWebTokenRate = 1;
constexpr int kMaxWebTokenRate = 10000;

// What is wrong with an allowed origin, or nullopt when it is one. An origin is compared with the
// browser's Origin header byte for byte, so it must be written as browsers send it:
// scheme://host[:port] in lower case, no path, query, user or trailing slash, no default port
// (https:443, http:80).
std::optional<std::string> webOriginProblem(const std::string& origin);

} // namespace sideband::tenants
