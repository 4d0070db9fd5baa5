#include "tenants/SqliteTenantStore.h"
#include "tenants/TenantsCommand.h"
#include "tenants/WebTokens.h"

#include "TempDir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace sideband::tenants;
using sideband::testing::TempDir;

namespace {

struct CommandResult {
    int exitCode;
    std::string out;
    std::string err;
};

CommandResult runCommand(const std::vector<std::string>& args) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = runTenantsCommand(args);
    const auto out = ::testing::internal::GetCapturedStdout();
    const auto err = ::testing::internal::GetCapturedStderr();
    return {code, out, err};
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

class TenantsCommandTest : public ::testing::Test {
protected:
    TempDir dir;
    std::string db = dir.file("sideband.db");
    std::string url = "sqlite:" + db;

    // A copy of the example tenants that a test may edit.
    std::string copyExamples() {
        const auto target = dir.file("tenants");
        std::filesystem::copy(SIDEBAND_SOURCE_DIR "/tenants", target, std::filesystem::copy_options::recursive);
        return target;
    }
};

TEST_F(TenantsCommandTest, ImportsTheExamplesAndListsThem) {
    auto result = runCommand({"import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url});
    ASSERT_EQ(result.exitCode, 0) << result.err;
    EXPECT_TRUE(contains(result.out, "acme-dental: created (1 number, plugin appointments.so)")) << result.out;
    EXPECT_TRUE(contains(result.out, "northwind-support: created (1 number, plugin call-routing.so)")) << result.out;
    EXPECT_TRUE(contains(result.out, "imported 2 tenants into " + url)) << result.out;

    SqliteTenantStore store(db);
    EXPECT_EQ(store.tenantForNumber("+18005550123"), "acme-dental");
    EXPECT_EQ(store.tenantForNumber("+18005550188"), "northwind-support");
    EXPECT_EQ(store.config("northwind-support").callLimit, 10);
    EXPECT_TRUE(contains(store.instructions("acme-dental").prompt, "book_appointment"));

    result = runCommand({"list", "--db", url});
    ASSERT_EQ(result.exitCode, 0) << result.err;
    EXPECT_TRUE(contains(result.out, "ID")) << result.out;
    EXPECT_TRUE(contains(result.out, "PLUGIN")) << result.out;
    EXPECT_TRUE(contains(result.out, "acme-dental")) << result.out;
    EXPECT_TRUE(contains(result.out, "+18005550188")) << result.out;
    EXPECT_TRUE(contains(result.out, "call-routing.so")) << result.out;
}

TEST_F(TenantsCommandTest, ImportIsIdempotent) {
    ASSERT_EQ(runCommand({"import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url}).exitCode, 0);
    const auto before = SqliteTenantStore(db).listTenants();
    const auto again = runCommand({"import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url});
    ASSERT_EQ(again.exitCode, 0) << again.err;
    EXPECT_TRUE(contains(again.out, "acme-dental: unchanged")) << again.out;
    EXPECT_TRUE(contains(again.out, "northwind-support: unchanged")) << again.out;
    const auto after = SqliteTenantStore(db).listTenants();
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
        EXPECT_EQ(after[i].numbers, before[i].numbers);
        EXPECT_EQ(after[i].configJson, before[i].configJson);
    }
}

TEST_F(TenantsCommandTest, ImportUpdatesChangedTenants) {
    const auto tenants = copyExamples();
    ASSERT_EQ(runCommand({"import", tenants, "--db", url}).exitCode, 0);
    std::ofstream(tenants + "/acme-dental/tenant.json", std::ios::trunc) << R"({
      "id": "acme-dental", "name": "Acme Dental West", "enabled": false, "numbers": ["+18005550124"],
      "config": {"plugin": "appointments-v2.so"}})";
    const auto result = runCommand({"import", tenants, "--db", url});
    ASSERT_EQ(result.exitCode, 0) << result.err;
    EXPECT_TRUE(contains(result.out, "acme-dental: updated")) << result.out;
    EXPECT_TRUE(contains(result.out, "northwind-support: unchanged")) << result.out;

    SqliteTenantStore store(db);
    EXPECT_EQ(store.tenantForNumber("+18005550123"), std::nullopt);
    EXPECT_EQ(store.tenantForNumber("+18005550124"), "acme-dental");
    EXPECT_THROW(store.config("acme-dental"), StoreError); // disabled now
    EXPECT_EQ(store.listTenants()[0].name, "Acme Dental West");
}

TEST_F(TenantsCommandTest, ABadFileNamesFileAndFieldAndWritesNothing) {
    const auto tenants = copyExamples();
    ASSERT_EQ(runCommand({"import", tenants, "--db", url}).exitCode, 0);
    const auto before = SqliteTenantStore(db).listTenants();

    // One good change and one bad file: neither may be written.
    std::ofstream(tenants + "/northwind-support/tenant.json", std::ios::trunc)
        << R"({"id":"northwind-support","name":"Renamed","numbers":["+18005550188"]})";
    std::filesystem::create_directories(tenants + "/x");
    std::ofstream(tenants + "/x/tenant.json") << R"({"id":"x","name":"X","numbers":["+18005550111","+1-800"]})";
    const auto result = runCommand({"import", tenants, "--db", url});
    EXPECT_EQ(result.exitCode, 65);
    EXPECT_TRUE(contains(result.err, tenants + "/x/tenant.json: numbers[1]: \"+1-800\" is not an E.164 number"))
        << result.err;
    EXPECT_TRUE(contains(result.err, "nothing imported")) << result.err;
    EXPECT_TRUE(result.out.empty()) << result.out;

    const auto after = SqliteTenantStore(db).listTenants();
    ASSERT_EQ(after.size(), before.size());
    EXPECT_EQ(after[1].name, before[1].name);
}

TEST_F(TenantsCommandTest, ABadFileDoesNotEvenCreateTheDatabase) {
    TempDir tenants;
    tenants.write("x/tenant.json", R"({"id":"x"})");
    const auto result = runCommand({"import", tenants.path(), "--db", url});
    EXPECT_EQ(result.exitCode, 65);
    EXPECT_TRUE(contains(result.err, "x/tenant.json: name: required")) << result.err;
    EXPECT_FALSE(std::filesystem::exists(db));
}

TEST_F(TenantsCommandTest, ANumberOwnedInTheDatabaseByAnotherTenantWritesNothing) {
    {
        SqliteTenantStore store(db);
        TenantDefinition other;
        other.id = "other";
        other.name = "Other";
        other.numbers = {"+18005550188"};
        store.upsertTenant(other);
    }
    const auto result = runCommand({"import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url});
    EXPECT_EQ(result.exitCode, 65);
    EXPECT_TRUE(contains(result.err, "+18005550188 already belongs to tenant other")) << result.err;
    EXPECT_TRUE(contains(result.err, "nothing imported")) << result.err;
    SqliteTenantStore store(db);
    EXPECT_EQ(store.listTenants().size(), 1u);
    EXPECT_EQ(store.tenantForNumber("+18005550123"), std::nullopt);
}

TEST_F(TenantsCommandTest, UsesSidebandDbFromTheEnvironment) {
    ::setenv("SIDEBAND_DB", url.c_str(), 1);
    const auto imported = runCommand({"import", SIDEBAND_SOURCE_DIR "/tenants"});
    const auto listed = runCommand({"list"});
    ::unsetenv("SIDEBAND_DB");
    ASSERT_EQ(imported.exitCode, 0) << imported.err;
    EXPECT_TRUE(contains(listed.out, "northwind-support")) << listed.out;
    EXPECT_EQ(SqliteTenantStore(db).listTenants().size(), 2u);
}

TEST_F(TenantsCommandTest, ListingAnEmptyDatabaseSaysSo) {
    const auto result = runCommand({"list", "--db", url});
    EXPECT_EQ(result.exitCode, 0);
    EXPECT_TRUE(contains(result.out, "no tenants")) << result.out;
}

TEST_F(TenantsCommandTest, UnsupportedDatabaseUrlIsAConfigurationError) {
    const auto result = runCommand({"list", "--db", "mysql://root:hunter2@db/sideband"});
    EXPECT_EQ(result.exitCode, 78);
    EXPECT_TRUE(contains(result.err, "unsupported database scheme \"mysql\"")) << result.err;
    EXPECT_FALSE(contains(result.err, "hunter2")) << result.err;
}

TEST_F(TenantsCommandTest, AnUnopenableDatabaseIsUnavailable) {
    const auto result =
        runCommand({"import", SIDEBAND_SOURCE_DIR "/tenants", "--db", "sqlite:" + dir.file("no/dir/x.db")});
    EXPECT_EQ(result.exitCode, 69);
    EXPECT_TRUE(contains(result.err, "opening")) << result.err;
    EXPECT_EQ(runCommand({"list", "--db", "sqlite:" + dir.file("no/dir/x.db")}).exitCode, 69);
}

// The example tenants imported, for the token commands.
class TokenCommandTest : public TenantsCommandTest {
protected:
    void SetUp() override {
        ASSERT_EQ(runCommand({"import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url}).exitCode, 0);
    }

    // `token create` for acme-dental with `extra` arguments: its secret (the single line of stdout).
    std::string createToken(std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"token", "create", "acme-dental", "--db", url};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto result = runCommand(args);
        EXPECT_EQ(result.exitCode, 0) << result.err;
        EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1) << result.out;
        return result.out.substr(0, result.out.find('\n'));
    }
};

TEST_F(TokenCommandTest, CreatePrintsTheSecretOnceAndItFindsTheToken) {
    const auto result = runCommand({"token", "create", "acme-dental", "--db", url});
    ASSERT_EQ(result.exitCode, 0) << result.err;
    const auto secret = result.out.substr(0, result.out.find('\n'));
    EXPECT_EQ(result.out, secret + "\n");
    EXPECT_TRUE(contains(result.err, "not shown again")) << result.err;
    EXPECT_FALSE(contains(result.err, secret)) << result.err;

    const auto found = SqliteTenantStore(db).webTokenBySecretHash(hashWebTokenSecret(secret));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->tenantId, "acme-dental");
    EXPECT_EQ(secret.rfind("sbwt_" + found->id + "_", 0), 0u) << secret;
    EXPECT_TRUE(contains(result.err, found->id)) << result.err;
}

TEST_F(TokenCommandTest, CreateStoresOriginsAndRate) {
    const auto secret =
        createToken({"--origin", "https://shop.example", "--origin", "http://localhost:8080", "--rate", "120"});
    const auto found = SqliteTenantStore(db).webTokenBySecretHash(hashWebTokenSecret(secret));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->allowedOrigins, (std::vector<std::string>{"https://shop.example", "http://localhost:8080"}));
    EXPECT_EQ(found->ratePerMinute, 120);
}

TEST_F(TokenCommandTest, ListShowsTheTokensButNeverTheirSecretOrHash) {
    const auto secret = createToken({"--origin", "https://shop.example", "--rate", "5"});
    const auto token = *SqliteTenantStore(db).webTokenBySecretHash(hashWebTokenSecret(secret));
    const auto result = runCommand({"token", "list", "acme-dental", "--db", url});
    ASSERT_EQ(result.exitCode, 0) << result.err;
    EXPECT_TRUE(contains(result.out, "ORIGINS")) << result.out;
    EXPECT_TRUE(contains(result.out, token.id)) << result.out;
    EXPECT_TRUE(contains(result.out, "https://shop.example")) << result.out;
    EXPECT_TRUE(contains(result.out, "5/min")) << result.out;
    // The random part (base64url may itself hold '_': a short tail after the last one is no secret).
    const auto random = secret.substr(("sbwt_" + token.id + "_").size());
    ASSERT_EQ(random.size(), 43u);
    EXPECT_FALSE(contains(result.out + result.err, random)) << result.out;
    EXPECT_FALSE(contains(result.out + result.err, hashWebTokenSecret(secret))) << result.out;
}

TEST_F(TokenCommandTest, ARevokedTokenIsNoLongerFound) {
    const auto secret = createToken();
    const auto token = *SqliteTenantStore(db).webTokenBySecretHash(hashWebTokenSecret(secret));
    const auto result = runCommand({"token", "revoke", "acme-dental", token.id, "--db", url});
    ASSERT_EQ(result.exitCode, 0) << result.err;
    EXPECT_TRUE(contains(result.out, "revoked web token " + token.id)) << result.out;
    EXPECT_EQ(SqliteTenantStore(db).webTokenBySecretHash(hashWebTokenSecret(secret)), std::nullopt);
    const auto listed = runCommand({"token", "list", "acme-dental", "--db", url}).out;
    const auto row =
        listed.substr(listed.find(token.id), listed.find('\n', listed.find(token.id)) - listed.find(token.id));
    EXPECT_EQ(std::count(row.begin(), row.end(), 'Z'), 2) << listed; // created and revoked times
}

TEST_F(TokenCommandTest, RevokingAnUnknownOrRevokedTokenIsADataError) {
    const auto secret = createToken();
    const auto token = *SqliteTenantStore(db).webTokenBySecretHash(hashWebTokenSecret(secret));
    const auto unknown = runCommand({"token", "revoke", "acme-dental", "wt_000000000000", "--db", url});
    EXPECT_EQ(unknown.exitCode, 65);
    EXPECT_TRUE(contains(unknown.err, "has no web token wt_000000000000")) << unknown.err;
    EXPECT_EQ(runCommand({"token", "revoke", "northwind-support", token.id, "--db", url}).exitCode, 65);
    ASSERT_EQ(runCommand({"token", "revoke", "acme-dental", token.id, "--db", url}).exitCode, 0);
    const auto again = runCommand({"token", "revoke", "acme-dental", token.id, "--db", url});
    EXPECT_EQ(again.exitCode, 65);
    EXPECT_TRUE(contains(again.err, "already revoked")) << again.err;
}

TEST_F(TokenCommandTest, AnUnknownTenantIsADataError) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"token", "create", "nobody", "--db", url},
                                                                  {"token", "list", "nobody", "--db", url},
                                                                  {"token", "revoke", "nobody", "wt_1", "--db", url}}) {
        const auto result = runCommand(args);
        EXPECT_EQ(result.exitCode, 65) << args[1];
        EXPECT_TRUE(contains(result.err, "unknown tenant nobody")) << result.err;
        EXPECT_TRUE(result.out.empty()) << result.out;
    }
}

TEST_F(TokenCommandTest, ABadOriginIsAUsageErrorAndCreatesNothing) {
    const auto result =
        runCommand({"token", "create", "acme-dental", "--origin", "https://shop.example/path", "--db", url});
    EXPECT_EQ(result.exitCode, 64);
    EXPECT_TRUE(contains(result.err, "--origin \"https://shop.example/path\": must not have a path")) << result.err;
    EXPECT_TRUE(result.out.empty()) << result.out;
    EXPECT_TRUE(SqliteTenantStore(db).webTokens("acme-dental").empty());
}

TEST_F(TokenCommandTest, ABadRateIsAUsageError) {
    for (const char* rate : {"0", "10001", "-1", "abc", "1.5", ""})
        EXPECT_EQ(runCommand({"token", "create", "acme-dental", "--rate", rate, "--db", url}).exitCode, 64) << rate;
    EXPECT_TRUE(SqliteTenantStore(db).webTokens("acme-dental").empty());
}

TEST_F(TokenCommandTest, TokenUsageErrors) {
    EXPECT_EQ(runCommand({"token"}).exitCode, 64);
    EXPECT_EQ(runCommand({"token", "create"}).exitCode, 64);
    EXPECT_EQ(runCommand({"token", "revoke", "acme-dental"}).exitCode, 64);
    EXPECT_EQ(runCommand({"token", "rotate", "acme-dental"}).exitCode, 64);
    EXPECT_EQ(runCommand({"token", "list", "acme-dental", "--rate", "5"}).exitCode, 64);
    EXPECT_EQ(runCommand({"list", "--origin", "https://shop.example"}).exitCode, 64);
    EXPECT_EQ(runCommand({"token", "create", "acme-dental", "--origin"}).exitCode, 64);
}

TEST_F(TokenCommandTest, AnUnopenableDatabaseIsUnavailable) {
    EXPECT_EQ(runCommand({"token", "list", "acme-dental", "--db", "sqlite:" + dir.file("no/dir/x.db")}).exitCode, 69);
}

TEST_F(TenantsCommandTest, UsageErrors) {
    EXPECT_EQ(runCommand({}).exitCode, 64);
    EXPECT_EQ(runCommand({"import"}).exitCode, 64);
    EXPECT_EQ(runCommand({"frobnicate"}).exitCode, 64);
    EXPECT_EQ(runCommand({"list", "--db"}).exitCode, 64);
    EXPECT_EQ(runCommand({"list", "--verbose"}).exitCode, 64);
    const auto help = runCommand({"--help"});
    EXPECT_EQ(help.exitCode, 0);
    EXPECT_TRUE(contains(help.out, "usage: sideband-host tenants import DIR"));
}

} // namespace
