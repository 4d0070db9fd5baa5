// What only the SQLite store has: WAL, the file watched for deletion or replacement, SQLite's
// busy timeout; and the SIDEBAND_DB forms. The backend-neutral contract is gtest_tenant_store.cpp.
#include "tenants/SqliteTenantStore.h"
#include "tenants/TenantStoreFactory.h"

#include "StoreTestHelpers.h"
#include "TempDir.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

using namespace Poco::Data::Keywords;
using namespace sideband::tenants;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

// A second, independent connection to the same file: what another process would see.
Poco::Data::Session rawSession(const std::string& path) {
    Poco::Data::SQLite::Connector::registerConnector();
    return Poco::Data::Session(Poco::Data::SQLite::Connector::KEY, path);
}

class SqliteTenantStoreTest : public ::testing::Test {
protected:
    TempDir dir;
    std::string path = dir.file("sideband.db");
};

TEST_F(SqliteTenantStoreTest, UsesWriteAheadLogging) {
    SqliteTenantStore store(path);
    auto session = rawSession(path);
    std::string mode;
    session << "PRAGMA journal_mode", into(mode), now;
    EXPECT_EQ(mode, "wal");
}

TEST_F(SqliteTenantStoreTest, RefusesAFileThatIsNotADatabase) {
    dir.write("sideband.db", std::string(8192, 'x'));
    EXPECT_EQ(codeOf([&] { SqliteTenantStore store(path); }), StoreErrorCode::Unavailable);
}

TEST_F(SqliteTenantStoreTest, RefusesAPathThatCannotBeOpened) {
    const auto message = messageOf([&] { SqliteTenantStore store(dir.file("no/such/dir/sideband.db")); });
    EXPECT_NE(message.find("opening"), std::string::npos) << message;
    EXPECT_NE(message.find("no/such/dir/sideband.db"), std::string::npos) << message;
}

TEST_F(SqliteTenantStoreTest, ADeletedDatabaseFileMakesEveryOperationUnavailable) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("acme", {"+18005550123"}));
    std::filesystem::remove(path);
    EXPECT_EQ(codeOf([&] { store.tenantForNumber("+18005550123"); }), StoreErrorCode::Unavailable);
    EXPECT_EQ(codeOf([&] { store.instructions("acme"); }), StoreErrorCode::Unavailable);
    EXPECT_EQ(codeOf([&] { store.config("acme"); }), StoreErrorCode::Unavailable);
    EXPECT_EQ(codeOf([&] { store.saveCall(CallRecord{}); }), StoreErrorCode::Unavailable);
    EXPECT_NE(messageOf([&] { store.listTenants(); }).find("is missing"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(path)) << "an empty database was created in its place";
}

TEST_F(SqliteTenantStoreTest, AFileReplacedByGarbageIsUnavailableUntilAValidDatabaseReturns) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("acme", {"+18005550123"}));
    {
        // Take a consistent copy through SQLite itself.
        auto session = rawSession(path);
        session << "VACUUM INTO '" + dir.file("backup.db") + "'", now;
    }
    std::filesystem::remove(path);
    // A database file goes with its -wal and -shm files (SQLite would replay a stale WAL).
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    dir.write("sideband.db", std::string(8192, 'x'));
    EXPECT_EQ(codeOf([&] { store.instructions("acme"); }), StoreErrorCode::Unavailable);
    EXPECT_EQ(codeOf([&] { store.tenantForNumber("+18005550123"); }), StoreErrorCode::Unavailable);

    std::filesystem::remove(path);
    std::filesystem::copy_file(dir.file("backup.db"), path);
    EXPECT_EQ(store.tenantForNumber("+18005550123"), "acme");
    EXPECT_EQ(store.instructions("acme").greeting, "Hello from acme");
}

TEST_F(SqliteTenantStoreTest, AWriteLockHeldElsewhereMakesWritesUnavailableAfterTheBusyTimeout) {
    SqliteTenantStore store(path, SqliteStoreOptions{50ms});
    store.upsertTenant(tenant("acme", {"+18005550123"}));
    auto other = rawSession(path);
    other << "BEGIN IMMEDIATE", now;

    CallRecord record;
    record.callId = "rtc_1";
    record.caller = "+14155550100";
    const auto started = std::chrono::steady_clock::now();
    const auto message = messageOf([&] { store.saveCall(record); });
    EXPECT_GE(std::chrono::steady_clock::now() - started, 40ms);
    EXPECT_NE(message.find("saving a call record failed"), std::string::npos) << message;
    EXPECT_NE(message.find("locked"), std::string::npos) << message;
    EXPECT_EQ(message.find("+14155550100"), std::string::npos) << "message leaks call data: " << message;
    EXPECT_EQ(codeOf([&] { store.upsertTenant(tenant("b", {})); }), StoreErrorCode::Unavailable);
    // WAL: readers do not wait for the writer, so call routing keeps working meanwhile.
    EXPECT_EQ(store.tenantForNumber("+18005550123"), "acme");

    other << "ROLLBACK", now;
    EXPECT_NO_THROW(store.saveCall(record));
}

// --- openTenantStore -------------------------------------------------------------------------

TEST(OpenTenantStore, OpensSqliteUrls) {
    TempDir dir;
    auto store = openTenantStore("sqlite:" + dir.file("a.db"));
    ASSERT_TRUE(store);
    store->upsertTenant(tenant("acme", {"+18005550123"}));
    EXPECT_EQ(openTenantStore("sqlite://" + dir.file("a.db"))->tenantForNumber("+18005550123"), "acme");
    EXPECT_TRUE(openTenantStore("sqlite:" + dir.file("b.db") + "?busy_timeout_ms=10"));
}

TEST(OpenTenantStore, RefusesUnknownSchemesWithoutRepeatingTheUrl) {
    const auto messageFor = [](const std::string& url) {
        try {
            openTenantStore(url);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        ADD_FAILURE() << url << " was accepted";
        return std::string();
    };
    EXPECT_NE(messageFor("mysql://u:hunter2@db/x").find("unsupported database scheme \"mysql\""), std::string::npos);
    EXPECT_EQ(messageFor("mysql://u:hunter2@db/x").find("hunter2"), std::string::npos);
    EXPECT_NE(messageFor("sideband.db").find("expected a URL"), std::string::npos);
    EXPECT_NE(messageFor("sqlite:").find("needs a file path"), std::string::npos);
    EXPECT_NE(messageFor("sqlite:x.db?cache=shared").find("unknown sqlite option"), std::string::npos);
    EXPECT_NE(messageFor("sqlite:x.db?busy_timeout_ms=soon").find("busy_timeout_ms"), std::string::npos);
}

TEST(OpenTenantStore, ABrokenSqlitePathIsUnavailable) {
    EXPECT_EQ(codeOf([] { openTenantStore("sqlite:/proc/sideband-cannot-exist/x.db"); }), StoreErrorCode::Unavailable);
}

TEST(OpenTenantStore, RedactsPasswordsFromUrls) {
    EXPECT_EQ(redactStoreUrl("postgresql://sideband:s3cret@db:5432/sideband"),
              "postgresql://sideband:***@db:5432/sideband");
    EXPECT_EQ(redactStoreUrl("postgresql://db/sideband"), "postgresql://db/sideband");
    EXPECT_EQ(redactStoreUrl("sqlite:/var/lib/sideband/sideband.db"), "sqlite:/var/lib/sideband/sideband.db");
}

TEST(SqlDialect, RewritesMarkersPerBackend) {
    const char* sql = "SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?";
    EXPECT_EQ(bindMarkers(sql, SqlDialect::Sqlite), sql);
    EXPECT_EQ(bindMarkers(sql, SqlDialect::PostgreSql), "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2");
}

} // namespace
