#pragma once

#include "tenants/SqlTenantStore.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace sideband::tenants {

struct SqliteStoreOptions {
    // How long a statement waits for another process's lock (e.g. `tenants import` writing)
    // before it fails with Unavailable. Webhook requests wait inside this, so keep it short.
    std::chrono::milliseconds busyTimeout{2000};
};

// The embedded TenantStore: one SQLite file through Poco::Data, in WAL mode (readers never wait
// for the writer), synchronous=NORMAL (a commit does not fsync; a power cut may lose the last
// call records, never corrupt the file), foreign keys on. The statements are SqlTenantStore's.
//
// Threads: one connection behind a mutex. Every statement is short (an indexed lookup or a
// one-row write, tens of microseconds), so HTTP threads queue for microseconds, and there is no
// SQLITE_BUSY between threads of one process. Other processes (the CLI) are serialised by SQLite's
// own locks and the busy timeout.
//
// Failure: every database error becomes StoreError(Unavailable) naming the operation; a number
// already owned by another tenant is StoreError(Conflict). If the file is deleted or replaced
// while the host runs (SQLite would otherwise keep writing to the unlinked inode and lose
// everything), operations fail with Unavailable until a valid database is back at the path, which
// is then reopened. That is also how a test makes a live store report "database down": remove or
// replace the file (see docs/tenants.md).
class SqliteTenantStore : public SqlTenantStore {
public:
    // Opens or creates the file and applies pending migrations. Throws StoreError(Unavailable)
    // when the file cannot be opened, is not a database, or has a newer schema than this binary.
    explicit SqliteTenantStore(std::string path, SqliteStoreOptions options = {});
    ~SqliteTenantStore() override;

    SqliteTenantStore(const SqliteTenantStore&) = delete;
    SqliteTenantStore& operator=(const SqliteTenantStore&) = delete;

    const std::string& path() const { return path_; }

protected:
    void withSession(const std::function<void(Poco::Data::Session&)>& use) override;
    // BEGIN IMMEDIATE ... COMMIT.
    void begin(Poco::Data::Session& session) override;
    void commit(Poco::Data::Session& session) override;
    void rollback(Poco::Data::Session& session) override;
    bool isConflict(const Poco::Exception& error) const override;

private:
    struct FileIdentity;

    void open();
    void ensureSameFile();

    const std::string path_;
    const SqliteStoreOptions options_;
    std::mutex mutex_;
    std::unique_ptr<Poco::Data::Session> session_; // null while the file is gone
    std::unique_ptr<FileIdentity> identity_;
};

} // namespace sideband::tenants
