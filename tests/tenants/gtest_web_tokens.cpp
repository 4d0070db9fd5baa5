// Making web tokens (WebTokens.h): their format, their hash, and which origins a token may name.
#include "tenants/WebTokens.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

using namespace sideband::tenants;

namespace {

std::chrono::system_clock::time_point at(long long millis) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(millis));
}

TEST(WebTokens, TheIdAndSecretHaveTheirFormat) {
    const auto made = makeWebToken("acme", {}, 30, at(1000));
    EXPECT_TRUE(std::regex_match(made.token.id, std::regex("wt_[0-9a-f]{12}"))) << made.token.id;
    EXPECT_TRUE(std::regex_match(made.secret, std::regex("sbwt_" + made.token.id + "_[A-Za-z0-9_-]{43}")))
        << made.secret.size();
}

TEST(WebTokens, TheTokenCarriesTenantOriginsRateAndTimeToTheMillisecond) {
    const auto now = at(1750287018123) + std::chrono::microseconds(456);
    const auto made = makeWebToken("acme", {"https://shop.example"}, 120, now);
    EXPECT_EQ(made.token.tenantId, "acme");
    EXPECT_EQ(made.token.allowedOrigins, std::vector<std::string>{"https://shop.example"});
    EXPECT_EQ(made.token.ratePerMinute, 120);
    EXPECT_EQ(made.token.createdAt, at(1750287018123));
    EXPECT_EQ(made.token.revokedAt, std::nullopt);
}

TEST(WebTokens, TwoTokensDiffer) {
    std::set<std::string> ids, secrets;
    for (int i = 0; i < 100; ++i) {
        const auto made = makeWebToken("acme", {}, 30, at(1000));
        ids.insert(made.token.id);
        // The random part: base64url may itself hold '_', so not "after the last '_'".
        secrets.insert(made.secret.substr(("sbwt_" + made.token.id + "_").size()));
    }
    EXPECT_EQ(ids.size(), 100u);
    EXPECT_EQ(secrets.size(), 100u);
}

TEST(WebTokens, TheHashIsTheSha256HexOfTheSecret) {
    // FIPS 180-2's test vectors.
    EXPECT_EQ(hashWebTokenSecret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hashWebTokenSecret(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const auto made = makeWebToken("acme", {}, 30, at(1000));
    EXPECT_EQ(hashWebTokenSecret(made.secret), hashWebTokenSecret(made.secret));
    EXPECT_NE(hashWebTokenSecret(made.secret), hashWebTokenSecret(made.secret + "x"));
}

TEST(WebTokens, OriginsAsBrowsersSendThemAreAccepted) {
    for (const char* origin : {"https://shop.example", "http://localhost:8080", "https://a-b.example.co.uk:8443",
                               "http://127.0.0.1:3000", "http://[::1]:8080", "https://[2001:db8::1]"})
        EXPECT_EQ(webOriginProblem(origin), std::nullopt) << origin;
}

TEST(WebTokens, OriginsThatNoBrowserSendsAreRefused) {
    for (const char* origin : {"",
                               "shop.example",
                               "https://",
                               "https://shop.example/",
                               "https://shop.example/path",
                               "https://shop.example?q",
                               "https://user@shop.example",
                               "https://Shop.example",
                               "HTTPS://shop.example",
                               "https://shop.example:",
                               "https://shop.example:0",
                               "https://shop.example:65536",
                               "https://shop.example:443",
                               "http://shop.example:80",
                               "https://shop example",
                               "https://shop..example",
                               "null",
                               "*",
                               "https://[::1",
                               "1http://x"})
        EXPECT_NE(webOriginProblem(origin), std::nullopt) << origin;
}

} // namespace
