#pragma once

#include "tenants/SqlTenantStore.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sideband::tenants {

struct PostgreSqlStoreOptions {
    // libpq "keyword=value ..." pairs naming the server, database and user (and the password, so
    // never logged); the timeouts below are added to it.
    std::string connection;
    // The database in messages and logs: postgresql://host:port/dbname, no user or password.
    std::string displayName;
    // libpq connect_timeout: whole seconds, rounded up, at least 2 (libpq's own minimum).
    std::chrono::milliseconds connectTimeout{2000};
    // The server's statement_timeout on every session; also how long an operation waits for a
    // free session when all are busy.
    std::chrono::milliseconds statementTimeout{2000};
    // The most sessions (connections) open at once.
    int poolSize = 8;
};

// The TenantStore on PostgreSQL (Poco::Data::PostgreSQL), for several replicas sharing one
// database: SqlTenantStore's statements and migrations, `$n` markers.
//
// Threads: each operation takes a session of its own from a bounded pool, so a slow query holds
// up only its caller; when all are busy, an operation waits for one up to the statement timeout.
// Every connection attempt has libpq's connect_timeout, every statement the server's
// statement_timeout.
//
// Failure: every database error is StoreError(Unavailable) naming the operation (first line of
// the server's message and its SQLSTATE: never bound values, never the password); an integrity
// violation (SQLSTATE class 23) is StoreError(Conflict). A session whose connection broke, or an
// idle one the server closed (its socket turned readable), is dropped rather than reused, so
// once the server is back the next operation opens a new connection: no restart needed.
//
// Migrations run in one transaction under pg_advisory_xact_lock, so replicas starting together
// against one database apply them once; the others wait for the lock, then find them done.
class PostgreSqlTenantStore : public SqlTenantStore {
public:
    // Connects and applies pending migrations. Throws StoreError(Unavailable) when the server
    // cannot be reached or the schema is newer than this binary.
    explicit PostgreSqlTenantStore(PostgreSqlStoreOptions options);
    ~PostgreSqlTenantStore() override;

    PostgreSqlTenantStore(const PostgreSqlTenantStore&) = delete;
    PostgreSqlTenantStore& operator=(const PostgreSqlTenantStore&) = delete;

    // Connections open now, idle or in use.
    int openSessions();

protected:
    void withSession(const std::function<void(Poco::Data::Session&)>& use) override;
    void lockSchema(Poco::Data::Session& session) override;
    bool isConflict(const Poco::Exception& error) const override;
    std::string describe(const Poco::Exception& error) const override;

private:
    std::unique_ptr<Poco::Data::Session> checkout();
    void checkin(std::unique_ptr<Poco::Data::Session> session);
    std::unique_ptr<Poco::Data::Session> connect() const;

    const PostgreSqlStoreOptions options_;
    std::mutex mutex_;
    std::condition_variable released_;
    std::vector<std::unique_ptr<Poco::Data::Session>> idle_; // guarded by mutex_
    int open_ = 0;                                           // idle + in use, guarded by mutex_
};

} // namespace sideband::tenants
