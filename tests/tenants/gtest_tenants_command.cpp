#include "tenants/SqliteTenantStore.h"
#include "tenants/TenantsCommand.h"

#include "TempDir.h"

#include <gtest/gtest.h>

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

CommandResult runCommand(const std::vector<std::string> &args) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = runTenantsCommand(args);
    const auto out = ::testing::internal::GetCapturedStdout();
    const auto err = ::testing::internal::GetCapturedStderr();
    return {code, out, err};
}

bool contains(const std::string &text, const std::string &part) {
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
