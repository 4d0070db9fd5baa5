#pragma once

#include <string>

struct pg_conn; // libpq's PGconn

namespace sideband::testing {

// A PostgreSQL 15 server of a test's own, started by tests/servers/postgres.sh in a temporary
// folder: for the tests that stop and restart it. Stopped and removed by the destructor.
class PostgresServer {
public:
    PostgresServer();
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    // postgresql://postgres@127.0.0.1:PORT/sideband
    const std::string& url() const { return url_; }
    void stop();  // fast shutdown: clients are disconnected
    void start(); // again, on the same port, with the same data

private:
    std::string dir_;
    std::string url_;
};

// The server the tests share: $SIDEBAND_TEST_POSTGRES_URL (CI starts one); else, under ctest, the
// `postgres_server` fixture's (tests/tenants/CMakeLists.txt); else a private server for this test
// process. Never skipped: when none can be had, this throws and the test fails saying why.
const std::string& sharedPostgresUrl();

// A database of the running test's own on a server (CREATE DATABASE with a unique name), so tests
// running in parallel on one server never see each other's tables. Dropped by the destructor.
class TestDatabase {
public:
    explicit TestDatabase(const std::string& serverUrl = sharedPostgresUrl());
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    // The server URL naming this database, with `options` ("a=1&b=2") as its query if not empty.
    std::string url(const std::string& options = "") const;
    const std::string& name() const { return name_; }
    // Runs SQL on a connection of its own (autocommit); throws std::runtime_error on failure.
    void execute(const std::string& sql) const;
    // The first column of the first row of a query, as text ("" when there is no row).
    std::string queryValue(const std::string& sql) const;

private:
    std::string serverUrl_;
    std::string name_;
};

// A libpq connection of a test's own (to hold a lock or an open transaction, as another process would).
class PostgresConnection {
public:
    explicit PostgresConnection(const std::string& url);
    ~PostgresConnection();
    PostgresConnection(const PostgresConnection&) = delete;
    PostgresConnection& operator=(const PostgresConnection&) = delete;

    // Runs SQL; the first column of the first row, or "". Throws std::runtime_error on failure.
    std::string query(const std::string& sql);

private:
    ::pg_conn* connection_;
};

// Runs SQL against a postgresql:// URL on a new connection (see PostgresConnection::query).
std::string postgresQuery(const std::string& url, const std::string& sql);

} // namespace sideband::testing
