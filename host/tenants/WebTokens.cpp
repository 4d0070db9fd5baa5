#include "tenants/WebTokens.h"

#include <Poco/Base64Encoder.h>
#include <Poco/Crypto/DigestEngine.h>
#include <Poco/DigestEngine.h>

#include <openssl/rand.h>

#include <cctype>
#include <sstream>
#include <stdexcept>

namespace sideband::tenants {
namespace {

std::string randomBytes(std::size_t count) {
    std::string bytes(count, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1)
        throw std::runtime_error("web token: the random number generator failed");
    return bytes;
}

std::string hex(const std::string& bytes) {
    return Poco::DigestEngine::digestToHex(Poco::DigestEngine::Digest(bytes.begin(), bytes.end()));
}

std::string base64Url(const std::string& bytes) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
    encoder.rdbuf()->setLineLength(0);
    encoder << bytes;
    encoder.close();
    return out.str();
}

bool isLowerAlnum(char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
}

std::optional<std::string> hostProblem(const std::string& host) {
    if (host.empty()) return "has no host";
    if (host.front() == '[') {
        if (host.back() != ']' || host.size() < 3) return "has an unclosed IPv6 address";
        for (std::size_t i = 1; i + 1 < host.size(); ++i)
            if (!std::isxdigit(static_cast<unsigned char>(host[i])) && host[i] != ':' && host[i] != '.')
                return "has an invalid IPv6 address";
        return std::nullopt;
    }
    for (char c : host) {
        if (std::isupper(static_cast<unsigned char>(c))) return "must be lower case, as browsers send it";
        if (!isLowerAlnum(c) && c != '-' && c != '.') return "has an invalid host";
    }
    if (host.front() == '.' || host.back() == '.' || host.find("..") != std::string::npos) return "has an invalid host";
    return std::nullopt;
}

} // namespace

NewWebToken makeWebToken(const std::string& tenantId, std::vector<std::string> allowedOrigins, int ratePerMinute,
                         std::chrono::system_clock::time_point now) {
    NewWebToken made;
    made.token.id = "wt_" + hex(randomBytes(6));
    made.token.tenantId = tenantId;
    made.token.allowedOrigins = std::move(allowedOrigins);
    made.token.ratePerMinute = ratePerMinute;
    made.token.createdAt = std::chrono::time_point_cast<std::chrono::milliseconds>(now);
    made.secret = "sbwt_" + made.token.id + "_" + base64Url(randomBytes(32));
    return made;
}

std::string hashWebTokenSecret(const std::string& secret) {
    Poco::Crypto::DigestEngine sha256("SHA256");
    sha256.update(secret);
    return Poco::DigestEngine::digestToHex(sha256.digest());
}

std::optional<std::string> webOriginProblem(const std::string& origin) {
    const auto separator = origin.find("://");
    if (separator == std::string::npos || separator == 0) return "must be scheme://host[:port]";
    const auto scheme = origin.substr(0, separator);
    if (!std::isalpha(static_cast<unsigned char>(scheme.front()))) return "has an invalid scheme";
    for (char c : scheme) {
        if (std::isupper(static_cast<unsigned char>(c))) return "must be lower case, as browsers send it";
        if (!isLowerAlnum(c) && c != '+' && c != '-' && c != '.') return "has an invalid scheme";
    }
    const auto authority = origin.substr(separator + 3);
    if (authority.find_first_of("/?#") != std::string::npos) return "must not have a path, query or fragment";
    if (authority.find('@') != std::string::npos) return "must not have a user name";

    // The port follows the last ':' outside an IPv6 address's brackets.
    const auto close = authority.rfind(']');
    const auto colon = authority.rfind(':');
    const bool hasPort = colon != std::string::npos && (close == std::string::npos || colon > close);
    const auto host = hasPort ? authority.substr(0, colon) : authority;
    if (const auto problem = hostProblem(host)) return problem;
    if (!hasPort) return std::nullopt;

    const auto port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.front() == '0' ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
        return "has an invalid port";
    if ((scheme == "https" && port == "443") || (scheme == "http" && port == "80"))
        return "must not name the default port (browsers leave it out)";
    return std::nullopt;
}

} // namespace sideband::tenants
