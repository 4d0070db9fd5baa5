#include "tenants/SqliteTenantStore.h"

#include "tenants/StoreMigrations.h"
#include "tenants/TenantConfigParser.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Nullable.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <map>
#include <set>
#include <tuple>

using namespace Poco::Data::Keywords;
using Poco::Data::Statement;

namespace sideband::tenants {

struct SqliteTenantStore::FileIdentity {
    dev_t device;
    ino_t inode;
};

namespace {

using Millis = Poco::Nullable<Poco::Int64>;

Millis toMillis(const std::optional<CallRecord::time_point>& time) {
    if (!time) return {};
    return Poco::Int64(std::chrono::duration_cast<std::chrono::milliseconds>(time->time_since_epoch()).count());
}

Poco::Int64 toMillis(CallRecord::time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::optional<CallRecord::time_point> fromMillis(const Millis& millis) {
    if (millis.isNull()) return std::nullopt;
    return CallRecord::time_point(std::chrono::milliseconds(millis.value()));
}

Poco::Int64 nowMillis() {
    return toMillis(std::chrono::system_clock::now());
}

// ":memory:" and URI file names have no file to watch.
bool isPlainFile(const std::string& path) {
    return path != ":memory:" && path.rfind("file:", 0) != 0;
}

bool isBlank(const std::string& text) {
    return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

// BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
// writes can fail with SQLITE_BUSY without waiting, when another process wrote in between.
class WriteTransaction {
public:
    explicit WriteTransaction(Poco::Data::Session& session) : session_(session) { session_ << "BEGIN IMMEDIATE", now; }
    ~WriteTransaction() {
        if (committed_) return;
        try {
            session_ << "ROLLBACK", now;
        } catch (...) {
            // The connection may be gone; SQLite rolls back an unfinished transaction anyway.
        }
    }
    void commit() {
        session_ << "COMMIT", now;
        committed_ = true;
    }

private:
    Poco::Data::Session& session_;
    bool committed_ = false;
};

} // namespace

SqliteTenantStore::SqliteTenantStore(std::string path, SqliteStoreOptions options)
    : path_(std::move(path)), options_(options) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    try {
        open();
    } catch (const StoreError&) {
        throw;
    } catch (const Poco::Exception& e) {
        throw StoreError(StoreErrorCode::Unavailable, "tenant store: opening " + path_ + " failed: " + e.displayText());
    }
}

SqliteTenantStore::~SqliteTenantStore() = default;

int SqliteTenantStore::latestSchemaVersion() {
    return storeMigrations().back().version;
}

int SqliteTenantStore::schemaVersion() {
    return run("reading the schema version", [&] { return readSchemaVersion(); });
}

template <typename Body> auto SqliteTenantStore::run(const char* operation, Body&& body) -> decltype(body()) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const auto failure = [&](StoreErrorCode code, const std::string& detail) {
        return StoreError(code, std::string("tenant store: ") + operation + " failed: " + detail);
    };
    try {
        if (inTransaction_ == 0) ensureSameFile(); // never reopen under an open transaction
        return body();
    } catch (const StoreError&) {
        throw;
    } catch (const Poco::Data::SQLite::ConstraintViolationException& e) {
        throw failure(StoreErrorCode::Conflict, e.displayText());
    } catch (const Poco::Exception& e) {
        // SQLite's messages name the problem ("database is locked"), never bound values.
        throw failure(StoreErrorCode::Unavailable, e.displayText());
    } catch (const std::exception& e) {
        throw failure(StoreErrorCode::Unavailable, e.what());
    }
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
    session_ = std::move(session);
    try {
        migrate();
    } catch (...) {
        session_.reset();
        throw;
    }
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

int SqliteTenantStore::readSchemaVersion() {
    int version = 0;
    *session_ << "SELECT COALESCE(MAX(version), 0) FROM schema_version", into(version), now;
    return version;
}

void SqliteTenantStore::migrate() {
    auto& session = *session_;
    session << "CREATE TABLE IF NOT EXISTS schema_version ("
               " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        now;
    const int latest = latestSchemaVersion();
    const int current = readSchemaVersion();
    if (current > latest)
        throw StoreError(StoreErrorCode::Unavailable,
                         "tenant store: " + path_ + " has schema version " + std::to_string(current) +
                             ", newer than this sideband-host knows (" + std::to_string(latest) +
                             "); upgrade sideband-host or use another database");
    for (const auto& migration : storeMigrations()) {
        if (migration.version <= current) continue;
        WriteTransaction transaction(session);
        // Another process may have applied it while we waited for the write lock.
        if (readSchemaVersion() >= migration.version) continue;
        for (const auto& statement : migration.statements)
            session << statement, now;
        int version = migration.version;
        std::string description = migration.description;
        Poco::Int64 appliedAt = nowMillis();
        session << sql("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)"),
            useRef(version), useRef(description), useRef(appliedAt), now;
        transaction.commit();
        spdlog::info("tenant store: {} migrated to schema version {} ({})", path_, version, description);
    }
}

std::optional<std::string> SqliteTenantStore::tenantForNumber(const std::string& e164) {
    return run("looking up a number", [&]() -> std::optional<std::string> {
        std::string tenantId;
        Statement select(*session_);
        select << sql("SELECT tenant_id FROM numbers WHERE e164 = ?"), useRef(e164), into(tenantId);
        if (select.execute() == 0) return std::nullopt;
        return tenantId;
    });
}

Instructions SqliteTenantStore::instructions(const std::string& tenantId) {
    return run("reading instructions", [&] {
        int enabled = 0;
        Statement tenant(*session_);
        tenant << sql("SELECT enabled FROM tenants WHERE id = ?"), useRef(tenantId), into(enabled);
        if (tenant.execute() == 0 || !enabled)
            throw StoreError(StoreErrorCode::TenantNotConfigured,
                             "tenant " + tenantId + " is not configured or is disabled");
        Instructions result;
        Statement select(*session_);
        select << sql("SELECT prompt, greeting FROM instructions WHERE tenant_id = ?"), useRef(tenantId),
            into(result.prompt), into(result.greeting);
        if (select.execute() == 0 || isBlank(result.prompt))
            throw StoreError(StoreErrorCode::InstructionsMissing, "tenant " + tenantId + " has no instructions");
        return result;
    });
}

TenantConfig SqliteTenantStore::config(const std::string& tenantId) {
    const auto [limit, configJson] = run("reading a tenant config", [&] {
        int enabled = 0;
        Poco::Nullable<int> callLimit;
        std::string json;
        Statement select(*session_);
        select << sql("SELECT enabled, call_limit, config_json FROM tenants WHERE id = ?"), useRef(tenantId),
            into(enabled), into(callLimit), into(json);
        if (select.execute() == 0 || !enabled)
            throw StoreError(StoreErrorCode::TenantNotConfigured,
                             "tenant " + tenantId + " is not configured or is disabled");
        return std::make_tuple(callLimit.isNull() ? std::nullopt : std::optional<int>(callLimit.value()), json);
    });
    // Parsed outside the lock: it touches no database.
    return parseTenantConfig(tenantId, configJson, limit);
}

void SqliteTenantStore::upsertTenant(const TenantDefinition& tenant) {
    upsertTenants({tenant});
}

void SqliteTenantStore::upsertTenants(const std::vector<TenantDefinition>& tenants) {
    // Checked before touching the database: the message can name both sides.
    std::map<std::string, std::string> ownerOf;
    std::set<std::string> ids;
    for (const auto& tenant : tenants) {
        if (tenant.id.empty()) throw StoreError(StoreErrorCode::Conflict, "tenant store: a tenant has an empty id");
        if (!ids.insert(tenant.id).second)
            throw StoreError(StoreErrorCode::Conflict, "tenant store: tenant " + tenant.id + " is listed twice");
        for (const auto& number : tenant.numbers) {
            const auto [it, inserted] = ownerOf.emplace(number, tenant.id);
            if (!inserted)
                throw StoreError(StoreErrorCode::Conflict, "tenant store: number " + number + " is listed by tenants " +
                                                               it->second + " and " + tenant.id);
        }
    }

    run("writing tenants", [&] {
        WriteTransaction transaction(*session_);
        Poco::Int64 updatedAt = nowMillis();
        for (const auto& tenant : tenants) {
            int enabled = tenant.enabled ? 1 : 0;
            Poco::Nullable<int> callLimit;
            if (tenant.callLimit) callLimit = *tenant.callLimit;
            const std::string configJson = tenant.configJson.empty() ? "{}" : tenant.configJson;
            *session_ << sql("INSERT INTO tenants (id, name, enabled, call_limit, config_json, updated_at)"
                             " VALUES (?, ?, ?, ?, ?, ?)"
                             " ON CONFLICT (id) DO UPDATE SET name = excluded.name, enabled = excluded.enabled,"
                             " call_limit = excluded.call_limit, config_json = excluded.config_json,"
                             " updated_at = excluded.updated_at"),
                useRef(tenant.id), useRef(tenant.name), useRef(enabled), useRef(callLimit), useRef(configJson),
                useRef(updatedAt), now;
            // Numbers are replaced as a set, so a number can move between tenants written together.
            *session_ << sql("DELETE FROM numbers WHERE tenant_id = ?"), useRef(tenant.id), now;
        }
        for (const auto& tenant : tenants) {
            for (const auto& number : tenant.numbers) {
                std::string owner;
                Statement select(*session_);
                select << sql("SELECT tenant_id FROM numbers WHERE e164 = ?"), useRef(number), into(owner);
                if (select.execute() > 0)
                    throw StoreError(StoreErrorCode::Conflict,
                                     "tenant store: number " + number + " already belongs to tenant " + owner);
                *session_ << sql("INSERT INTO numbers (e164, tenant_id) VALUES (?, ?)"), useRef(number),
                    useRef(tenant.id), now;
            }
            if (tenant.instructions) {
                *session_ << sql("INSERT INTO instructions (tenant_id, prompt, greeting) VALUES (?, ?, ?)"
                                 " ON CONFLICT (tenant_id) DO UPDATE SET prompt = excluded.prompt,"
                                 " greeting = excluded.greeting"),
                    useRef(tenant.id), useRef(tenant.instructions->prompt), useRef(tenant.instructions->greeting), now;
            } else {
                *session_ << sql("DELETE FROM instructions WHERE tenant_id = ?"), useRef(tenant.id), now;
            }
        }
        transaction.commit();
    });
}

std::vector<TenantDefinition> SqliteTenantStore::listTenants() {
    return run("listing tenants", [&] {
        std::vector<std::string> ids, names, configs;
        std::vector<int> enabled;
        std::vector<Poco::Nullable<int>> limits;
        *session_ << "SELECT id, name, enabled, call_limit, config_json FROM tenants ORDER BY id", into(ids),
            into(names), into(enabled), into(limits), into(configs), now;
        std::vector<TenantDefinition> tenants(ids.size());
        std::map<std::string, TenantDefinition*> byId;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            auto& tenant = tenants[i];
            tenant.id = ids[i];
            tenant.name = names[i];
            tenant.enabled = enabled[i] != 0;
            if (!limits[i].isNull()) tenant.callLimit = limits[i].value();
            tenant.configJson = configs[i];
            byId[tenant.id] = &tenant;
        }

        std::vector<std::string> numberOwners, numbers;
        *session_ << "SELECT tenant_id, e164 FROM numbers ORDER BY tenant_id, e164", into(numberOwners), into(numbers),
            now;
        for (std::size_t i = 0; i < numbers.size(); ++i)
            if (const auto it = byId.find(numberOwners[i]); it != byId.end()) it->second->numbers.push_back(numbers[i]);

        std::vector<std::string> promptOwners, prompts, greetings;
        *session_ << "SELECT tenant_id, prompt, greeting FROM instructions", into(promptOwners), into(prompts),
            into(greetings), now;
        for (std::size_t i = 0; i < prompts.size(); ++i)
            if (const auto it = byId.find(promptOwners[i]); it != byId.end())
                it->second->instructions = Instructions{prompts[i], greetings[i]};
        return tenants;
    });
}

void SqliteTenantStore::saveCall(const CallRecord& record) {
    run("saving a call record", [&] {
        int fallback = record.fallback ? 1 : 0;
        Millis receivedAt = toMillis(record.receivedAt);
        Millis acceptedAt = toMillis(record.acceptedAt);
        Millis endedAt = toMillis(record.endedAt);
        *session_ << sql("INSERT INTO calls (call_id, webhook_id, tenant_id, caller, dialed, outcome, reject_reason,"
                         " fallback, received_at, accepted_at, ended_at, end_reason)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                         " ON CONFLICT (call_id) DO UPDATE SET webhook_id = excluded.webhook_id,"
                         " tenant_id = excluded.tenant_id, caller = excluded.caller, dialed = excluded.dialed,"
                         " outcome = excluded.outcome, reject_reason = excluded.reject_reason,"
                         " fallback = excluded.fallback, received_at = excluded.received_at,"
                         " accepted_at = excluded.accepted_at, ended_at = excluded.ended_at,"
                         " end_reason = excluded.end_reason"),
            useRef(record.callId), useRef(record.webhookId), useRef(record.tenantId), useRef(record.caller),
            useRef(record.dialed), useRef(record.outcome), useRef(record.rejectReason), useRef(fallback),
            useRef(receivedAt), useRef(acceptedAt), useRef(endedAt), useRef(record.endReason), now;
    });
}

void SqliteTenantStore::recordCallEnded(const std::string& callId, const std::string& reason,
                                        CallRecord::time_point endedAt) {
    run("recording a call end", [&] {
        Poco::Int64 at = toMillis(endedAt);
        *session_ << sql("UPDATE calls SET ended_at = ?, end_reason = ? WHERE call_id = ? AND ended_at IS NULL"),
            useRef(at), useRef(reason), useRef(callId), now;
    });
}

bool SqliteTenantStore::writeAtomically(const std::function<void(TenantStore&)>& writes) {
    run("writing call records", [&] {
        WriteTransaction transaction(*session_);
        ++inTransaction_;
        try {
            writes(*this);
        } catch (...) {
            --inTransaction_;
            throw;
        }
        --inTransaction_;
        transaction.commit();
    });
    return true;
}

std::optional<CallRecord> SqliteTenantStore::findCall(const std::string& callId) {
    return run("reading a call record", [&]() -> std::optional<CallRecord> {
        CallRecord record;
        int fallback = 0;
        Millis receivedAt, acceptedAt, endedAt;
        Statement select(*session_);
        select << sql("SELECT call_id, webhook_id, tenant_id, caller, dialed, outcome, reject_reason, fallback,"
                      " received_at, accepted_at, ended_at, end_reason FROM calls WHERE call_id = ?"),
            useRef(callId), into(record.callId), into(record.webhookId), into(record.tenantId), into(record.caller),
            into(record.dialed), into(record.outcome), into(record.rejectReason), into(fallback), into(receivedAt),
            into(acceptedAt), into(endedAt), into(record.endReason);
        if (select.execute() == 0) return std::nullopt;
        record.fallback = fallback != 0;
        record.receivedAt = fromMillis(receivedAt);
        record.acceptedAt = fromMillis(acceptedAt);
        record.endedAt = fromMillis(endedAt);
        return record;
    });
}

void SqliteTenantStore::appendTranscript(const std::string& callId, const TranscriptLine& line) {
    run("appending a transcript line", [&] {
        Poco::Int64 at = nowMillis();
        // The next sequence number is computed in the same statement; the mutex orders our threads
        // and SQLite's write lock orders other processes.
        *session_ << sql("INSERT INTO transcripts (call_id, seq, speaker, text, at)"
                         " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM transcripts WHERE call_id = ?"),
            useRef(callId), useRef(line.speaker), useRef(line.text), useRef(at), useRef(callId), now;
    });
}

std::vector<TranscriptLine> SqliteTenantStore::transcript(const std::string& callId) {
    return run("reading a transcript", [&] {
        std::vector<std::string> speakers, texts;
        *session_ << sql("SELECT speaker, text FROM transcripts WHERE call_id = ? ORDER BY seq"), useRef(callId),
            into(speakers), into(texts), now;
        std::vector<TranscriptLine> lines;
        lines.reserve(speakers.size());
        for (std::size_t i = 0; i < speakers.size(); ++i)
            lines.push_back({speakers[i], texts[i]});
        return lines;
    });
}

} // namespace sideband::tenants
