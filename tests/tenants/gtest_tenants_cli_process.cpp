#include "HostProcess.h"
#include "TempDir.h"

#include <gtest/gtest.h>

#include <filesystem>

using sideband::testing::HostProcess;
using sideband::testing::TempDir;

namespace {

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

// The real sideband-host binary, as an operator runs it.
TEST(TenantsCliProcess, ImportsAndListsTheExampleTenants) {
    TempDir dir;
    const auto url = "sqlite:" + dir.file("sideband.db");

    HostProcess import(SIDEBAND_HOST_BINARY, {"tenants", "import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url}, {});
    ASSERT_EQ(import.wait(), 0) << import.output();
    EXPECT_TRUE(contains(import.standardOut(), "imported 2 tenants")) << import.standardOut();

    HostProcess again(SIDEBAND_HOST_BINARY, {"tenants", "import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url}, {});
    ASSERT_EQ(again.wait(), 0) << again.output();
    EXPECT_TRUE(contains(again.standardOut(), "acme-dental: unchanged")) << again.standardOut();

    // SIDEBAND_DB from the environment, as the host reads it.
    HostProcess list(SIDEBAND_HOST_BINARY, {"tenants", "list"}, {{"SIDEBAND_DB", url}});
    ASSERT_EQ(list.wait(), 0) << list.output();
    const auto table = list.standardOut();
    EXPECT_TRUE(contains(table, "ID")) << table;
    EXPECT_TRUE(contains(table, "acme-dental")) << table;
    EXPECT_TRUE(contains(table, "+18005550123")) << table;
    EXPECT_TRUE(contains(table, "appointments.so")) << table;
    EXPECT_TRUE(contains(table, "northwind-support")) << table;
    EXPECT_TRUE(contains(table, "call-routing.so")) << table;
}

TEST(TenantsCliProcess, ABadTenantFileFailsNamingFileAndField) {
    TempDir dir;
    dir.write("defs/x/tenant.json", R"({"id":"x","name":"X","numbers":["+18005550111","+1-800"]})");
    HostProcess import(SIDEBAND_HOST_BINARY,
                       {"tenants", "import", dir.file("defs"), "--db", "sqlite:" + dir.file("sideband.db")}, {});
    EXPECT_EQ(import.wait(), 65);
    EXPECT_TRUE(
        contains(import.output(), dir.file("defs/x/tenant.json") + ": numbers[1]: \"+1-800\" is not an E.164 number"))
        << import.output();
    EXPECT_FALSE(std::filesystem::exists(dir.file("sideband.db")));
}

TEST(TenantsCliProcess, TokenCreatePrintsOnlyTheSecretOnStandardOut) {
    TempDir dir;
    const auto url = "sqlite:" + dir.file("sideband.db");
    HostProcess import(SIDEBAND_HOST_BINARY, {"tenants", "import", SIDEBAND_SOURCE_DIR "/tenants", "--db", url}, {});
    ASSERT_EQ(import.wait(), 0) << import.output();

    HostProcess create(SIDEBAND_HOST_BINARY,
                       {"tenants", "token", "create", "acme-dental", "--origin", "https://shop.example", "--db", url},
                       {});
    ASSERT_EQ(create.wait(), 0) << create.output();
    const auto secret = create.standardOut();
    EXPECT_EQ(secret.rfind("sbwt_wt_", 0), 0u) << secret;
    EXPECT_EQ(secret.find('\n'), secret.size() - 1) << secret;

    HostProcess list(SIDEBAND_HOST_BINARY, {"tenants", "token", "list", "acme-dental", "--db", url}, {});
    ASSERT_EQ(list.wait(), 0) << list.output();
    EXPECT_TRUE(contains(list.standardOut(), secret.substr(5, 15))) << list.standardOut(); // the token's id
    EXPECT_FALSE(contains(list.output(), secret.substr(21, 43))) << list.output();
}

} // namespace
