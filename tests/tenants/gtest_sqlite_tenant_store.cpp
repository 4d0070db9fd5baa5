#include "tenants/SqliteTenantStore.h"
#include "tenants/StoreMigrations.h"
#include "tenants/TenantStoreFactory.h"

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
using sideband::testing::TempDir;
using namespace std::chrono_literals;

namespace {

// A second, independent connection to the same file: what another process would see.
Poco::Data::Session rawSession(const std::string &path) {
    Poco::Data::SQLite::Connector::registerConnector();
    return Poco::Data::Session(Poco::Data::SQLite::Connector::KEY, path);
}

TenantDefinition tenant(const std::string &id, std::vector<std::string> numbers, const std::string &configJson = "{}") {
    TenantDefinition definition;
    definition.id = id;
    definition.name = id + " name";
    definition.numbers = std::move(numbers);
    definition.configJson = configJson;
    definition.instructions = Instructions{"You are " + id + "'s receptionist.", "Hello from " + id};
    return definition;
}

StoreErrorCode codeOf(const std::function<void()> &call) {
    try {
        call();
    } catch (const StoreError &e) {
        return e.code();
    }
    ADD_FAILURE() << "no StoreError thrown";
    return StoreErrorCode::Unavailable;
}

std::string messageOf(const std::function<void()> &call) {
    try {
        call();
    } catch (const StoreError &e) {
        return e.what();
    }
    return "";
}

CallRecord::time_point at(long long millis) {
    return CallRecord::time_point(std::chrono::milliseconds(millis));
}

class SqliteTenantStoreTest : public ::testing::Test {
protected:
    TempDir dir;
    std::string path = dir.file("sideband.db");
};

TEST_F(SqliteTenantStoreTest, MigratesAnEmptyFileToTheLatestSchema) {
    SqliteTenantStore store(path);
    EXPECT_EQ(store.schemaVersion(), SqliteTenantStore::latestSchemaVersion());
    auto session = rawSession(path);
    int tables = 0;
    session << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN"
               " ('tenants', 'numbers', 'instructions', 'calls', 'transcripts', 'schema_version')",
        into(tables), now;
    EXPECT_EQ(tables, 6);
}

TEST_F(SqliteTenantStoreTest, UsesWriteAheadLogging) {
    SqliteTenantStore store(path);
    auto session = rawSession(path);
    std::string mode;
    session << "PRAGMA journal_mode", into(mode), now;
    EXPECT_EQ(mode, "wal");
}

TEST_F(SqliteTenantStoreTest, ReopeningIsIdempotentAndKeepsData) {
    {
        SqliteTenantStore store(path);
        store.upsertTenant(tenant("acme", {"+18005550123"}));
    }
    SqliteTenantStore reopened(path);
    EXPECT_EQ(reopened.schemaVersion(), SqliteTenantStore::latestSchemaVersion());
    EXPECT_EQ(reopened.tenantForNumber("+18005550123"), "acme");
    auto session = rawSession(path);
    int applied = 0;
    session << "SELECT COUNT(*) FROM schema_version", into(applied), now;
    EXPECT_EQ(applied, static_cast<int>(storeMigrations().size()));
}

TEST_F(SqliteTenantStoreTest, RefusesADatabaseWithANewerSchema) {
    { SqliteTenantStore store(path); }
    {
        auto session = rawSession(path);
        session << "INSERT INTO schema_version (version, description, applied_at) VALUES (999, 'future', 0)", now;
    }
    try {
        SqliteTenantStore store(path);
        FAIL() << "opened a database from the future";
    } catch (const StoreError &e) {
        EXPECT_EQ(e.code(), StoreErrorCode::Unavailable);
        EXPECT_NE(std::string(e.what()).find("schema version 999, newer than"), std::string::npos) << e.what();
    }
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

TEST_F(SqliteTenantStoreTest, ResolvesNumbersToTheirTenant) {
    SqliteTenantStore store(path);
    store.upsertTenants({tenant("acme", {"+18005550123", "+18005550124"}), tenant("northwind", {"+18005550188"})});
    EXPECT_EQ(store.tenantForNumber("+18005550123"), "acme");
    EXPECT_EQ(store.tenantForNumber("+18005550124"), "acme");
    EXPECT_EQ(store.tenantForNumber("+18005550188"), "northwind");
    EXPECT_EQ(store.tenantForNumber("+18005550000"), std::nullopt);
    EXPECT_EQ(store.tenantForNumber(""), std::nullopt);
}

TEST_F(SqliteTenantStoreTest, ANumberOwnedByAnotherTenantIsAConflictAndChangesNothing) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("acme", {"+18005550123"}));
    const auto message = messageOf([&] { store.upsertTenant(tenant("northwind", {"+18005550188", "+18005550123"})); });
    EXPECT_NE(message.find("+18005550123 already belongs to tenant acme"), std::string::npos) << message;
    EXPECT_EQ(codeOf([&] { store.upsertTenant(tenant("northwind", {"+18005550123"})); }), StoreErrorCode::Conflict);
    EXPECT_EQ(store.tenantForNumber("+18005550123"), "acme");
    EXPECT_EQ(store.tenantForNumber("+18005550188"), std::nullopt);
    EXPECT_EQ(store.listTenants().size(), 1u);
}

TEST_F(SqliteTenantStoreTest, TheSameNumberTwiceInOneWriteIsAConflict) {
    SqliteTenantStore store(path);
    EXPECT_EQ(codeOf([&] {
                  store.upsertTenants({tenant("a", {"+18005550123"}), tenant("b", {"+18005550123"})});
              }),
              StoreErrorCode::Conflict);
    EXPECT_EQ(codeOf([&] { store.upsertTenants({tenant("a", {}), tenant("a", {})}); }), StoreErrorCode::Conflict);
    EXPECT_TRUE(store.listTenants().empty());
}

TEST_F(SqliteTenantStoreTest, UpsertTenantsIsAllOrNothing) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("owner", {"+18005550100"}));
    EXPECT_EQ(codeOf([&] {
                  store.upsertTenants({tenant("first", {"+18005550101"}), tenant("second", {"+18005550100"})});
              }),
              StoreErrorCode::Conflict);
    EXPECT_EQ(store.listTenants().size(), 1u);
    EXPECT_EQ(store.tenantForNumber("+18005550101"), std::nullopt);
}

TEST_F(SqliteTenantStoreTest, NumbersCanMoveBetweenTenantsWrittenTogether) {
    SqliteTenantStore store(path);
    store.upsertTenants({tenant("a", {"+18005550101"}), tenant("b", {"+18005550102"})});
    store.upsertTenants({tenant("a", {"+18005550102"}), tenant("b", {"+18005550101"})});
    EXPECT_EQ(store.tenantForNumber("+18005550101"), "b");
    EXPECT_EQ(store.tenantForNumber("+18005550102"), "a");
}

TEST_F(SqliteTenantStoreTest, UpsertReplacesNumbersInstructionsAndFields) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("acme", {"+18005550123", "+18005550124"}));
    auto updated = tenant("acme", {"+18005550125"}, R"({"plugin":"b.so"})");
    updated.name = "Acme Renamed";
    updated.enabled = false;
    updated.callLimit = 3;
    updated.instructions.reset();
    store.upsertTenant(updated);

    const auto tenants = store.listTenants();
    ASSERT_EQ(tenants.size(), 1u);
    EXPECT_EQ(tenants[0].name, "Acme Renamed");
    EXPECT_FALSE(tenants[0].enabled);
    EXPECT_EQ(tenants[0].callLimit, 3);
    EXPECT_EQ(tenants[0].numbers, std::vector<std::string>{"+18005550125"});
    EXPECT_EQ(tenants[0].configJson, R"({"plugin":"b.so"})");
    EXPECT_FALSE(tenants[0].instructions);
    EXPECT_EQ(store.tenantForNumber("+18005550123"), std::nullopt);
}

TEST_F(SqliteTenantStoreTest, ListsTenantsWithNumbersAndInstructions) {
    SqliteTenantStore store(path);
    store.upsertTenants({tenant("zeta", {"+18005550199", "+18005550198"}), tenant("alpha", {})});
    const auto tenants = store.listTenants();
    ASSERT_EQ(tenants.size(), 2u);
    EXPECT_EQ(tenants[0].id, "alpha");
    EXPECT_TRUE(tenants[0].numbers.empty());
    EXPECT_EQ(tenants[1].id, "zeta");
    EXPECT_EQ(tenants[1].numbers, (std::vector<std::string>{"+18005550198", "+18005550199"}));
    ASSERT_TRUE(tenants[1].instructions);
    EXPECT_EQ(tenants[1].instructions->greeting, "Hello from zeta");
    EXPECT_EQ(tenants[1].callLimit, std::nullopt);
}

TEST_F(SqliteTenantStoreTest, ReturnsInstructionsOfAnEnabledTenant) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("acme", {"+18005550123"}));
    const auto instructions = store.instructions("acme");
    EXPECT_EQ(instructions.prompt, "You are acme's receptionist.");
    EXPECT_EQ(instructions.greeting, "Hello from acme");
}

TEST_F(SqliteTenantStoreTest, UnknownOrDisabledTenantIsNotConfigured) {
    SqliteTenantStore store(path);
    auto disabled = tenant("off", {});
    disabled.enabled = false;
    store.upsertTenant(disabled);
    EXPECT_EQ(codeOf([&] { store.instructions("nobody"); }), StoreErrorCode::TenantNotConfigured);
    EXPECT_EQ(codeOf([&] { store.instructions("off"); }), StoreErrorCode::TenantNotConfigured);
    EXPECT_EQ(codeOf([&] { store.config("nobody"); }), StoreErrorCode::TenantNotConfigured);
    EXPECT_EQ(codeOf([&] { store.config("off"); }), StoreErrorCode::TenantNotConfigured);
}

TEST_F(SqliteTenantStoreTest, MissingOrEmptyPromptIsInstructionsMissing) {
    SqliteTenantStore store(path);
    auto none = tenant("none", {});
    none.instructions.reset();
    auto blank = tenant("blank", {});
    blank.instructions = Instructions{" \n\t", "Hi"};
    store.upsertTenants({none, blank});
    EXPECT_EQ(codeOf([&] { store.instructions("none"); }), StoreErrorCode::InstructionsMissing);
    EXPECT_EQ(codeOf([&] { store.instructions("blank"); }), StoreErrorCode::InstructionsMissing);
}

TEST_F(SqliteTenantStoreTest, ParsesTheTenantConfig) {
    SqliteTenantStore store(path);
    auto acme = tenant("acme", {},
                       R"({"model":"gpt-realtime","voice":"marin","plugin":"appointments.so",)"
                       R"("plugin_sha256":"ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789",)"
                       R"("tool_timeout_ms":5000,"plugin_config":{"clinic":"north"}})");
    acme.callLimit = 4;
    store.upsertTenant(acme);
    const auto config = store.config("acme");
    EXPECT_EQ(config.tenantId, "acme");
    EXPECT_EQ(config.callLimit, 4);
    EXPECT_EQ(config.plugin, "appointments.so");
    EXPECT_EQ(config.pluginSha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    ASSERT_TRUE(config.settings);
    EXPECT_EQ(config.settings->getValue<std::string>("voice"), "marin");
    EXPECT_EQ(config.settings->getObject("plugin_config")->getValue<std::string>("clinic"), "north");
}

TEST_F(SqliteTenantStoreTest, AnEmptyConfigMeansNoPlugin) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("plain", {}, ""));
    const auto config = store.config("plain");
    EXPECT_TRUE(config.plugin.empty());
    EXPECT_EQ(config.callLimit, std::nullopt);
    ASSERT_TRUE(config.settings);
}

TEST_F(SqliteTenantStoreTest, BadConfigIsAConfigParseError) {
    SqliteTenantStore store(path);
    const std::vector<std::string> bad = {
        "{not json",
        "[1,2]",
        "\"text\"",
        R"({"plugin":42})",
        R"({"plugin":"../../usr/lib/evil.so"})",
        R"({"plugin_sha256":"abc"})",
        R"({"plugin_sha256":"zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})",
        R"({"tool_timeout_ms":0})",
        R"({"tool_timeout_ms":-5})",
        R"({"tool_timeout_ms":1.5})",
        R"({"tool_timeout_ms":"100"})",
        R"({"tool_timeout_ms":true})",
        R"({"model":""})",
        R"({"voice":7})",
        R"({"transfer_target":"+14155550199"})",
        R"({"plugin_config":[]})",
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        const auto id = "t" + std::to_string(i);
        store.upsertTenant(tenant(id, {}, bad[i]));
        EXPECT_EQ(codeOf([&] { store.config(id); }), StoreErrorCode::ConfigParseError) << bad[i];
    }
    const auto message = messageOf([&] { store.config("t5"); });
    EXPECT_NE(message.find("config.plugin_sha256"), std::string::npos) << message;
}

TEST_F(SqliteTenantStoreTest, CallRecordsRoundTrip) {
    SqliteTenantStore store(path);
    CallRecord record;
    record.callId = "rtc_479a";
    record.webhookId = "evt_1";
    record.tenantId = "acme";
    record.caller = "+14155550100";
    record.dialed = "+18005550123";
    record.outcome = "accepted";
    record.fallback = true;
    record.receivedAt = at(1750287018123);
    record.acceptedAt = at(1750287018456);
    store.saveCall(record);

    const auto found = store.findCall("rtc_479a");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->webhookId, "evt_1");
    EXPECT_EQ(found->tenantId, "acme");
    EXPECT_EQ(found->caller, "+14155550100");
    EXPECT_EQ(found->dialed, "+18005550123");
    EXPECT_EQ(found->outcome, "accepted");
    EXPECT_TRUE(found->fallback);
    EXPECT_EQ(found->receivedAt, at(1750287018123));
    EXPECT_EQ(found->acceptedAt, at(1750287018456));
    EXPECT_EQ(found->endedAt, std::nullopt);
    EXPECT_EQ(store.findCall("rtc_other"), std::nullopt);
}

TEST_F(SqliteTenantStoreTest, SaveCallReplacesByCallId) {
    SqliteTenantStore store(path);
    CallRecord record;
    record.callId = "rtc_1";
    record.outcome = "accepted";
    record.acceptedAt = at(1000);
    store.saveCall(record);
    record.outcome = "rejected";
    record.rejectReason = "capacity";
    record.acceptedAt.reset();
    store.saveCall(record);
    const auto found = store.findCall("rtc_1");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->outcome, "rejected");
    EXPECT_EQ(found->rejectReason, "capacity");
    EXPECT_EQ(found->acceptedAt, std::nullopt);
}

TEST_F(SqliteTenantStoreTest, TheFirstCallEndWins) {
    SqliteTenantStore store(path);
    CallRecord record;
    record.callId = "rtc_1";
    record.outcome = "accepted";
    store.saveCall(record);
    store.recordCallEnded("rtc_1", "hangup", at(5000));
    store.recordCallEnded("rtc_1", "socket_closed", at(6000));
    const auto found = store.findCall("rtc_1");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->endReason, "hangup");
    EXPECT_EQ(found->endedAt, at(5000));
}

TEST_F(SqliteTenantStoreTest, EndingAnUnknownCallRecordsNothing) {
    SqliteTenantStore store(path);
    EXPECT_NO_THROW(store.recordCallEnded("rtc_unknown", "hangup", at(5000)));
    EXPECT_EQ(store.findCall("rtc_unknown"), std::nullopt);
}

TEST_F(SqliteTenantStoreTest, TranscriptsKeepTheirOrderPerCall) {
    SqliteTenantStore store(path);
    store.appendTranscript("rtc_1", {"agent", "Thanks for calling."});
    store.appendTranscript("rtc_2", {"agent", "Other call."});
    store.appendTranscript("rtc_1", {"caller", "I need an appointment."});
    store.appendTranscript("rtc_1", {"agent", "Sure, when?"});
    const auto lines = store.transcript("rtc_1");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].text, "Thanks for calling.");
    EXPECT_EQ(lines[1].speaker, "caller");
    EXPECT_EQ(lines[2].text, "Sure, when?");
    EXPECT_EQ(store.transcript("rtc_2").size(), 1u);
    EXPECT_TRUE(store.transcript("rtc_none").empty());
}

TEST_F(SqliteTenantStoreTest, WritesMadeAtomicallyAreAllCommittedTogether) {
    SqliteTenantStore store(path);
    CallRecord record;
    record.callId = "rtc_1";
    record.outcome = "accepted";
    EXPECT_TRUE(store.writeAtomically([&](TenantStore &s) {
        s.saveCall(record);
        s.appendTranscript("rtc_1", {"agent", "Hello."});
        s.recordCallEnded("rtc_1", "hangup", at(5000));
    }));
    auto other = rawSession(path); // what another connection sees: committed
    int calls = 0, lines = 0;
    other << "SELECT COUNT(*) FROM calls WHERE call_id = 'rtc_1' AND end_reason = 'hangup'",
        into(calls), now;
    other << "SELECT COUNT(*) FROM transcripts WHERE call_id = 'rtc_1'", into(lines),
        now;
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(lines, 1);
}

TEST_F(SqliteTenantStoreTest, AFailureInsideAnAtomicWriteLeavesNoneOfItsWrites) {
    SqliteTenantStore store(path);
    CallRecord record;
    record.callId = "rtc_1";
    record.outcome = "accepted";
    EXPECT_EQ(codeOf([&] {
                  store.writeAtomically([&](TenantStore &s) {
                      s.saveCall(record);
                      s.appendTranscript("rtc_1", {"agent", "Hello."});
                      throw StoreError(StoreErrorCode::Unavailable, "disk full");
                  });
              }),
              StoreErrorCode::Unavailable);
    EXPECT_EQ(store.findCall("rtc_1"), std::nullopt);
    EXPECT_TRUE(store.transcript("rtc_1").empty());
    store.saveCall(record); // the store is usable afterwards: no transaction left open
    EXPECT_TRUE(store.findCall("rtc_1"));
}

TEST_F(SqliteTenantStoreTest, ConcurrentSaveCallFromEightThreads) {
    SqliteTenantStore store(path);
    store.upsertTenant(tenant("acme", {"+18005550123"}));
    constexpr int kThreads = 8;
    constexpr int kPerThread = 400;
    std::atomic<int> failures{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                try {
                    CallRecord record;
                    record.callId = "rtc_" + std::to_string(t) + "_" + std::to_string(i);
                    record.tenantId = "acme";
                    record.outcome = "accepted";
                    record.receivedAt = std::chrono::system_clock::now();
                    store.saveCall(record);
                    if (i % 10 == 0 && store.tenantForNumber("+18005550123") != "acme") ++failures;
                } catch (const StoreError &) {
                    ++failures;
                }
            }
        });
    for (auto &thread : threads)
        thread.join();
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(failures.load(), 0);

    auto session = rawSession(path);
    int saved = 0;
    session << "SELECT COUNT(*) FROM calls", into(saved), now;
    EXPECT_EQ(saved, kThreads * kPerThread);
    const double perSecond = kThreads * kPerThread / seconds;
    std::cout << "saveCall: " << static_cast<int>(perSecond) << " records/s from " << kThreads << " threads\n";
    RecordProperty("save_call_per_second", static_cast<int>(perSecond));
    // Loose bound so sanitizer builds pass; an unsynchronised (fsync per commit) store would miss it.
    EXPECT_GT(perSecond, 300.0);
}

// --- "database down": what a test can do to a real SQLite file -------------------------------

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
    const auto messageFor = [](const std::string &url) {
        try {
            openTenantStore(url);
        } catch (const std::invalid_argument &e) {
            return std::string(e.what());
        }
        ADD_FAILURE() << url << " was accepted";
        return std::string();
    };
    EXPECT_NE(messageFor("mysql://u:hunter2@db/x").find("unsupported database scheme \"mysql\""), std::string::npos);
    EXPECT_EQ(messageFor("mysql://u:hunter2@db/x").find("hunter2"), std::string::npos);
    EXPECT_NE(messageFor("postgresql://u:hunter2@db/x").find("PostgreSQL is not supported"), std::string::npos);
    EXPECT_EQ(messageFor("postgresql://u:hunter2@db/x").find("hunter2"), std::string::npos);
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
    const char *sql = "SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?";
    EXPECT_EQ(bindMarkers(sql, SqlDialect::Sqlite), sql);
    EXPECT_EQ(bindMarkers(sql, SqlDialect::PostgreSql), "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2");
}

} // namespace
