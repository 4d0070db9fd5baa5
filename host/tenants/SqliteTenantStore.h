#pragma once

#include "tenants/SqlDialect.h"
#include "tenants/TenantStore.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace Poco::Data {
class Session;
}

namespace sideband::tenants {

struct SqliteStoreOptions {
    // How long a statement waits for another process's lock (e.g. `tenants import` writing)
    // before it fails with Unavailable. Webhook requests wait inside this, so keep it short.
    std::chrono::milliseconds busyTimeout{2000};
};

// The embedded TenantStore: one SQLite file through Poco::Data, in WAL mode (readers never wait
// for the writer), synchronous=NORMAL (a commit does not fsync; a power cut may lose the last
// call records, never corrupt the file), foreign keys on.
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
class SqliteTenantStore : public TenantStore {
public:
    // Opens or creates the file and applies pending migrations. Throws StoreError(Unavailable)
    // when the file cannot be opened, is not a database, or has a newer schema than this binary.
    explicit SqliteTenantStore(std::string path, SqliteStoreOptions options = {});
    ~SqliteTenantStore() override;

    SqliteTenantStore(const SqliteTenantStore&) = delete;
    SqliteTenantStore& operator=(const SqliteTenantStore&) = delete;

    // The newest schema version this binary knows (the last migration's).
    static int latestSchemaVersion();
    // The version recorded in the open file.
    int schemaVersion();
    const std::string& path() const { return path_; }

    std::optional<std::string> tenantForNumber(const std::string& e164) override;
    Instructions instructions(const std::string& tenantId) override;
    TenantConfig config(const std::string& tenantId) override;

    void upsertTenant(const TenantDefinition& tenant) override;
    void upsertTenants(const std::vector<TenantDefinition>& tenants) override;
    std::vector<TenantDefinition> listTenants() override;

    void saveCall(const CallRecord& record) override;
    // The first end wins: a call ended by its webhook and then by its socket closing keeps the
    // first reason. An unknown call id records nothing.
    void recordCallEnded(const std::string& callId, const std::string& reason, CallRecord::time_point endedAt) override;
    std::optional<CallRecord> findCall(const std::string& callId) override;
    void appendTranscript(const std::string& callId, const TranscriptLine& line) override;
    std::vector<TranscriptLine> transcript(const std::string& callId) override;
    // One BEGIN IMMEDIATE ... COMMIT around the writes; any failure rolls all of them back.
    bool writeAtomically(const std::function<void(TenantStore&)>& writes) override;

private:
    struct FileIdentity;

    template <typename Body> auto run(const char* operation, Body&& body) -> decltype(body());
    void open();
    void ensureSameFile();
    void migrate();
    int readSchemaVersion();
    std::string sql(const char* text) const { return bindMarkers(text, SqlDialect::Sqlite); }

    const std::string path_;
    const SqliteStoreOptions options_;
    std::recursive_mutex mutex_;                   // recursive: the writes inside writeAtomically run on its thread
    int inTransaction_ = 0;                        // > 0 inside writeAtomically (guarded by mutex_)
    std::unique_ptr<Poco::Data::Session> session_; // null while the file is gone
    std::unique_ptr<FileIdentity> identity_;
};

} // namespace sideband::tenants
