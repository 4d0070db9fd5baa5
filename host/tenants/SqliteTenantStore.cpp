#include "tenants/SqliteTenantStore.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/Session.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

using namespace Poco::Data::Keywords;

namespace sideband::tenants {

struct SqliteTenantStore::FileIdentity {
    dev_t device;
    ino_t inode;
};

namespace {

// ":memory:" and URI file names have no file to watch.
bool isPlainFile(const std::string& path) {
    return path != ":memory:" && path.rfind("file:", 0) != 0;
}

} // namespace

SqliteTenantStore::SqliteTenantStore(std::string path, SqliteStoreOptions options)
    : SqlTenantStore(SqlDialect::Sqlite, path), path_(std::move(path)), options_(options) {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        open();
    } catch (const StoreError&) {
        throw;
    } catch (const Poco::Exception& e) {
        throw StoreError(StoreErrorCode::Unavailable, "tenant store: opening " + path_ + " failed: " + e.displayText());
    }
}

SqliteTenantStore::~SqliteTenantStore() = default;

void SqliteTenantStore::withSession(const std::function<void(Poco::Data::Session&)>& use) {
    std::lock_guard<std::mutex> lock(mutex_);
    ensureSameFile();
    use(*session_);
}

// BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
// writes can fail with SQLITE_BUSY without waiting, when another process wrote in between.
void SqliteTenantStore::begin(Poco::Data::Session& session) {
    session << "BEGIN IMMEDIATE", now;
}

void SqliteTenantStore::commit(Poco::Data::Session& session) {
    session << "COMMIT", now;
}

void SqliteTenantStore::rollback(Poco::Data::Session& session) {
    session << "ROLLBACK", now;
}

bool SqliteTenantStore::isConflict(const Poco::Exception& error) const {
    // SQLite's messages name the problem ("database is locked"), never bound values.
    return dynamic_cast<const Poco::Data::SQLite::ConstraintViolationException*>(&error) != nullptr;
}

void SqliteTenantStore::open() {
    static std::once_flag registered;
    std::call_once(registered, [] { Poco::Data::SQLite::Connector::registerConnector(); });

    session_.reset();
    identity_.reset();
    // Poco retries a failed open for its login timeout (60 s by default); a path that cannot be
    // opened will not become openable by waiting, and waiting would stall a webhook request.
    auto session = std::make_unique<Poco::Data::Session>(Poco::Data::SQLite::Connector::KEY, path_, 0);
    int busyTimeout = 0;
    *session << "PRAGMA busy_timeout = " + std::to_string(options_.busyTimeout.count()), into(busyTimeout), now;
    std::string journalMode;
    *session << "PRAGMA journal_mode = WAL", into(journalMode), now;
    *session << "PRAGMA synchronous = NORMAL", now;
    *session << "PRAGMA foreign_keys = ON", now;
    if (journalMode != "wal" && isPlainFile(path_))
        spdlog::warn("tenant store: {} is in journal mode {}, not WAL; readers will wait for writers", path_,
                     journalMode);
    migrate(*session); // BEGIN IMMEDIATE: another process migrating at the same time waits, then finds it done
    session_ = std::move(session);
    if (isPlainFile(path_)) {
        struct stat info {};
        if (::stat(path_.c_str(), &info) == 0) identity_.reset(new FileIdentity{info.st_dev, info.st_ino});
    }
}

void SqliteTenantStore::ensureSameFile() {
    if (!isPlainFile(path_)) return;
    struct stat info {};
    if (::stat(path_.c_str(), &info) != 0) {
        // Reopening would create an empty database and silently route no calls: refuse instead.
        session_.reset();
        throw StoreError(StoreErrorCode::Unavailable, "tenant store: database file " + path_ + " is missing");
    }
    if (session_ && identity_ && identity_->device == info.st_dev && identity_->inode == info.st_ino) return;
    spdlog::warn("tenant store: database file {} was replaced; reopening", path_);
    open();
}

} // namespace sideband::tenants
