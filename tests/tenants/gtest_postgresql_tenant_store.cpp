// What only the PostgreSQL store has: its URL and options, the session pool, the timeouts, the
// server going away and coming back, several replicas migrating one database. Against a real
// PostgreSQL 15 (see PostgresServer.h); the backend-neutral contract is gtest_tenant_store.cpp.
#include "PostgresServer.h"
#include "StoreTestHelpers.h"

#include "tenants/PostgreSqlTenantStore.h"
#include "tenants/StoreMigrations.h"
#include "tenants/TenantStoreFactory.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

using namespace sideband::tenants;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

std::string invalidUrlMessage(const std::string& url) {
    try {
        openTenantStore(url);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    ADD_FAILURE() << "accepted: " << redactStoreUrl(url);
    return "";
}

std::unique_ptr<PostgreSqlTenantStore> openStore(const std::string& url) {
    return std::make_unique<PostgreSqlTenantStore>(postgreSqlOptions(url));
}

// --- SIDEBAND_DB=postgresql://... ------------------------------------------------------------

TEST(PostgreSqlUrl, ParsesUserPasswordHostPortDatabaseAndOptions) {
    const auto options = postgreSqlOptions("postgresql://sideband:s3cret@db.example:5433/calls"
                                           "?connect_timeout_ms=500&statement_timeout_ms=250&pool_size=3"
                                           "&sslmode=require");
    EXPECT_EQ(options.connection, "host='db.example' dbname='calls' port='5433' user='sideband' password='s3cret' "
                                  "sslmode='require'");
    EXPECT_EQ(options.displayName, "postgresql://db.example:5433/calls");
    EXPECT_EQ(options.connectTimeout, 500ms);
    EXPECT_EQ(options.statementTimeout, 250ms);
    EXPECT_EQ(options.poolSize, 3);
}

TEST(PostgreSqlUrl, DefaultsEscapesAndIpv6) {
    const auto defaults = postgreSqlOptions("postgres://db/sideband");
    EXPECT_EQ(defaults.connection, "host='db' dbname='sideband'");
    EXPECT_EQ(defaults.displayName, "postgresql://db/sideband");
    EXPECT_EQ(defaults.connectTimeout, 2000ms);
    EXPECT_EQ(defaults.statementTimeout, 2000ms);
    EXPECT_EQ(defaults.poolSize, 8);

    const auto escaped = postgreSqlOptions("postgresql://u%40x:p%40ss%27w%5C@[::1]:6432/my%2Ddb");
    EXPECT_EQ(escaped.connection, R"(host='::1' dbname='my-db' port='6432' user='u@x' password='p@ss\'w\\')");
    EXPECT_EQ(escaped.displayName, "postgresql://[::1]:6432/my-db");
}

TEST(PostgreSqlUrl, RefusesMalformedUrlsAndUnknownOptionsWithoutRepeatingThem) {
    const std::string base = "postgresql://sideband:hunter2@db:5432/sideband";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {base + "?cache=shared", "unknown postgresql option \"cache\" (known: connect_timeout_ms"},
        {base + "?busy_timeout_ms=5", "unknown postgresql option \"busy_timeout_ms\""},
        {base + "?connect_timeout_ms=0", "connect_timeout_ms must be an integer from 1 to 600000"},
        {base + "?connect_timeout_ms=soon", "connect_timeout_ms must be an integer from 1 to 600000"},
        {base + "?statement_timeout_ms=600001", "statement_timeout_ms must be an integer from 1 to 600000"},
        {base + "?statement_timeout_ms=-1", "statement_timeout_ms must be an integer"},
        {base + "?pool_size=0", "pool_size must be an integer from 1 to 100"},
        {base + "?sslmode=maybe", "sslmode must be disable, allow"},
        {"postgresql://sideband:hunter2@db:99999/sideband", "port must be an integer from 1 to 65535"},
        {"postgresql://sideband:hunter2@db:/sideband", "port must be an integer"},
        {"postgresql://sideband:hunter2@db", "needs a database name"},
        {"postgresql://sideband:hunter2@/sideband", "needs a host"},
        {"postgresql://sideband:hunter2%zz@db/sideband", "bad %-escape in the PostgreSQL password"},
        {"postgresql://sideband:hunter2%20x@db/sideband", "the PostgreSQL password must not contain white space"},
    };
    for (const auto& [url, expected] : cases) {
        const auto message = invalidUrlMessage(url);
        EXPECT_NE(message.find(expected), std::string::npos) << message;
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    }
}

TEST(PostgreSqlUrl, RedactsThePassword) {
    EXPECT_EQ(redactStoreUrl("postgresql://sideband:hunter2@db:5432/sideband?sslmode=require"),
              "postgresql://sideband:***@db:5432/sideband?sslmode=require");
}

// --- the store against a live server ----------------------------------------------------------

TEST(PostgreSqlStore, AnUnreachableServerIsUnavailableAtOnceAndTheMessageHasNoPassword) {
    const auto started = Clock::now();
    const auto message = messageOf([] { openTenantStore("postgresql://sideband:hunter2@127.0.0.1:1/sideband"); });
    EXPECT_LT(Clock::now() - started, 3s);
    EXPECT_NE(message.find("tenant store: opening postgresql://127.0.0.1:1/sideband failed: "), std::string::npos)
        << message;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    EXPECT_EQ(codeOf([] { openTenantStore("postgresql://127.0.0.1:1/sideband"); }), StoreErrorCode::Unavailable);
}

// A store with tenant acme, and another connection holding the calls table in an open
// transaction: writes of call records wait for it, as behind a slow writer elsewhere.
class LockedCallsTest : public ::testing::Test {
protected:
    void lockCalls(const std::string& options) {
        store = openStore(database.url(options));
        store->upsertTenant(tenant("acme", {"+18005550123"}));
        other = std::make_unique<PostgresConnection>(database.url());
        other->query("BEGIN");
        other->query("LOCK TABLE calls IN EXCLUSIVE MODE");
    }

    TestDatabase database;
    std::unique_ptr<PostgreSqlTenantStore> store;
    std::unique_ptr<PostgresConnection> other;
};

TEST_F(LockedCallsTest, AStatementWaitingForALockFailsAfterTheStatementTimeout) {
    lockCalls("statement_timeout_ms=200");

    CallRecord record;
    record.callId = "rtc_1";
    record.caller = "+14155550100";
    const auto started = Clock::now();
    const auto message = messageOf([&] { store->saveCall(record); });
    const auto waited = Clock::now() - started;
    EXPECT_GE(waited, 150ms);
    EXPECT_LT(waited, 2s);
    EXPECT_NE(message.find("tenant store: saving a call record failed: "), std::string::npos) << message;
    EXPECT_NE(message.find("failed: canceling statement due to statement timeout"), std::string::npos) << message;
    EXPECT_EQ(message.find("+14155550100"), std::string::npos) << "message leaks call data: " << message;
    EXPECT_EQ(codeOf([&] { store->saveCall(record); }), StoreErrorCode::Unavailable);
    EXPECT_EQ(store->tenantForNumber("+18005550123"), "acme"); // routing does not touch calls

    other->query("ROLLBACK");
    EXPECT_NO_THROW(store->saveCall(record));
    EXPECT_TRUE(store->findCall("rtc_1"));
}

TEST_F(LockedCallsTest, ASlowQueryHoldsUpOnlyItsOwnCaller) {
    lockCalls("statement_timeout_ms=3000");

    CallRecord record;
    record.callId = "rtc_slow";
    auto slow = std::async(std::launch::async, [&] { store->saveCall(record); });
    std::this_thread::sleep_for(100ms);
    ASSERT_EQ(slow.wait_for(0ms), std::future_status::timeout) << "the write did not wait for the lock";
    const auto started = Clock::now();
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(store->tenantForNumber("+18005550123"), "acme");
    EXPECT_LT(Clock::now() - started, 1s) << "reads queued behind the waiting write";
    other->query("COMMIT");
    EXPECT_NO_THROW(slow.get());
    EXPECT_TRUE(store->findCall("rtc_slow"));
}

TEST(PostgreSqlStore, ANumberTakenByAConcurrentWriterIsAConflict) {
    TestDatabase database;
    auto store = openStore(database.url());
    PostgresConnection other(database.url());
    other.query("BEGIN");
    other.query("INSERT INTO tenants (id, name, updated_at) VALUES ('other', 'Other', 0)");
    other.query("INSERT INTO numbers (e164, tenant_id) VALUES ('+18005550123', 'other')");
    // The store's own check cannot see the uncommitted number; its insert waits for the other
    // transaction and then violates the primary key.
    auto write = std::async(std::launch::async, [&] {
        return messageOf([&] {
            try {
                store->upsertTenant(tenant("acme", {"+18005550123"}));
            } catch (const StoreError& e) {
                EXPECT_EQ(e.code(), StoreErrorCode::Conflict) << e.what();
                throw;
            }
        });
    });
    std::this_thread::sleep_for(200ms);
    other.query("COMMIT");
    const auto message = write.get();
    EXPECT_NE(message.find("tenant store: writing tenants failed: "), std::string::npos) << message;
    EXPECT_NE(message.find("SQLSTATE 23505"), std::string::npos) << message;
    EXPECT_EQ(message.find("+18005550123"), std::string::npos) << "the key's value leaked: " << message;
    EXPECT_EQ(store->tenantForNumber("+18005550123"), "other");
    EXPECT_EQ(store->listTenants().size(), 1u) << "acme was written although its transaction failed";
}

TEST(PostgreSqlStore, SessionsAreBoundedByThePoolSize) {
    TestDatabase database;
    auto store = openStore(database.url("pool_size=2"));
    store->upsertTenant(tenant("acme", {"+18005550123"}));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i)
                try {
                    if (store->tenantForNumber("+18005550123") != "acme") ++failures;
                } catch (const StoreError& e) {
                    if (failures++ == 0) ADD_FAILURE() << e.what();
                }
        });
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_LE(store->openSessions(), 2);
    EXPECT_EQ(database.queryValue("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '" + database.name() +
                                  "' AND pid <> pg_backend_pid()"),
              std::to_string(store->openSessions()));
}

TEST(PostgreSqlStore, ReplicasMigratingOneEmptyDatabaseAtOnceAllSucceed) {
    for (int round = 0; round < 3; ++round) {
        TestDatabase database;
        constexpr int kReplicas = 3;
        std::atomic<int> ready{0};
        std::vector<std::future<std::unique_ptr<PostgreSqlTenantStore>>> replicas;
        for (int r = 0; r < kReplicas; ++r)
            replicas.push_back(std::async(std::launch::async, [&] {
                ++ready;
                while (ready.load() < kReplicas)
                    std::this_thread::yield();
                return openStore(database.url());
            }));
        std::vector<std::unique_ptr<PostgreSqlTenantStore>> stores;
        for (auto& replica : replicas)
            ASSERT_NO_THROW(stores.push_back(replica.get())) << "round " << round;
        EXPECT_EQ(database.queryValue("SELECT COUNT(*) FROM schema_version"), std::to_string(storeMigrations().size()));
        stores[0]->upsertTenant(tenant("acme", {"+18005550123"}));
        for (auto& store : stores) {
            EXPECT_EQ(store->schemaVersion(), SqlTenantStore::latestSchemaVersion());
            EXPECT_EQ(store->tenantForNumber("+18005550123"), "acme");
        }
    }
}

// --- the server going away and coming back ----------------------------------------------------

class PostgreSqlServerDownTest : public ::testing::Test {
protected:
    PostgreSqlServerDownTest() {
        store_ = openStore(server_.url() + "?connect_timeout_ms=1000&statement_timeout_ms=1000");
        store_->upsertTenant(tenant("acme", {"+18005550123"}));
        // Several idle sessions in the pool, as after a busy minute.
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 20; ++i)
                    store_->tenantForNumber("+18005550123");
            });
        for (auto& thread : threads)
            thread.join();
    }

    PostgresServer server_; // a server of this test's own: stopping the shared one would fail other tests
    std::unique_ptr<PostgreSqlTenantStore> store_;
};

TEST_F(PostgreSqlServerDownTest, EveryOperationIsUnavailableQuicklyAndTheSameStoreWorksWhenItReturns) {
    server_.stop();
    CallRecord record;
    record.callId = "rtc_down";
    const std::vector<std::pair<const char*, std::function<void()>>> operations = {
        {"looking up a number", [&] { store_->tenantForNumber("+18005550123"); }},
        {"reading instructions", [&] { store_->instructions("acme"); }},
        {"reading a tenant config", [&] { store_->config("acme"); }},
        {"listing tenants", [&] { store_->listTenants(); }},
        {"writing tenants", [&] { store_->upsertTenant(tenant("b", {})); }},
        {"saving a call record", [&] { store_->saveCall(record); }},
        {"writing call records", [&] { store_->writeAtomically([&](TenantStore& s) { s.saveCall(record); }); }},
        {"reading a call record", [&] { store_->findCall("rtc_down"); }},
    };
    for (const auto& [operation, call] : operations) {
        const auto started = Clock::now();
        try {
            call();
            ADD_FAILURE() << operation << " succeeded with the server stopped";
        } catch (const StoreError& e) {
            EXPECT_EQ(e.code(), StoreErrorCode::Unavailable) << e.what();
            EXPECT_NE(std::string(e.what()).find(std::string(operation) + " failed"), std::string::npos) << e.what();
        }
        EXPECT_LT(Clock::now() - started, 2s) << operation << " did not fail fast";
    }

    server_.start();
    // The same object, no restart: the first operation already works.
    EXPECT_EQ(store_->tenantForNumber("+18005550123"), "acme");
    store_->saveCall(record);
    EXPECT_TRUE(store_->findCall("rtc_down"));
    EXPECT_EQ(store_->instructions("acme").greeting, "Hello from acme");
}

TEST_F(PostgreSqlServerDownTest, IdleSessionsOfARestartedServerAreNotReused) {
    const int before = store_->openSessions();
    ASSERT_GE(before, 2);
    server_.stop();
    server_.start();
    // Every pooled connection was closed by the restart; none of them may fail a call now.
    for (int i = 0; i < before + 2; ++i)
        EXPECT_EQ(store_->tenantForNumber("+18005550123"), "acme") << "attempt " << i;
    EXPECT_LE(store_->openSessions(), 1);
}

} // namespace
