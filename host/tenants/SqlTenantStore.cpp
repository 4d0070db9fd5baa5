#include "tenants/SqlTenantStore.h"

#include "core/Json.h"
#include "tenants/StoreMigrations.h"
#include "tenants/TenantConfigParser.h"

#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/JSON/Array.h>
#include <Poco/Nullable.h>
#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <type_traits>
#include <vector>

using namespace Poco::Data::Keywords;
using Poco::Data::Session;
using Poco::Data::Statement;

namespace sideband::tenants {

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

// A token's allowed origins are kept as a JSON array of strings.
std::string originsToJson(const std::vector<std::string>& origins) {
    Poco::JSON::Array::Ptr array = new Poco::JSON::Array;
    for (const auto& origin : origins)
        array->add(origin);
    return json::stringify(array);
}

std::vector<std::string> originsFromJson(const std::string& text, const std::string& tokenId) {
    const auto parsed = json::parse(text);
    if (parsed.isEmpty() || parsed.type() != typeid(Poco::JSON::Array::Ptr))
        throw StoreError(StoreErrorCode::ConfigParseError,
                         "tenant store: web token " + tokenId + " has allowed origins that are not a JSON array");
    std::vector<std::string> origins;
    for (const auto& origin : *parsed.extract<Poco::JSON::Array::Ptr>())
        origins.push_back(origin.toString());
    return origins;
}

bool isBlank(const std::string& text) {
    return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

// The session of the transaction this thread has open in a store: the writes made inside
// writeAtomically reach the store again and must join that transaction.
struct Binding {
    const SqlTenantStore* store;
    Session* session;
};
thread_local std::vector<Binding> bindings;

Session* boundSession(const SqlTenantStore* store) {
    for (auto it = bindings.rbegin(); it != bindings.rend(); ++it)
        if (it->store == store) return it->session;
    return nullptr;
}

} // namespace

// A write transaction that rolls back unless committed.
class SqlTenantStore::Transaction {
public:
    Transaction(SqlTenantStore& store, Session& session) : store_(store), session_(session) { store_.begin(session_); }
    ~Transaction() {
        if (committed_) return;
        try {
            store_.rollback(session_);
        } catch (...) {
            // The connection may be gone; the database rolls back an unfinished transaction anyway.
        }
    }
    void commit() {
        store_.commit(session_);
        committed_ = true;
    }

private:
    SqlTenantStore& store_;
    Session& session_;
    bool committed_ = false;
};

class SqlTenantStore::BoundSession {
public:
    BoundSession(const SqlTenantStore* store, Session& session) { bindings.push_back({store, &session}); }
    ~BoundSession() { bindings.pop_back(); }
    BoundSession(const BoundSession&) = delete;
    BoundSession& operator=(const BoundSession&) = delete;
};

template <typename Body> auto SqlTenantStore::call(const char* operation, Body&& body) {
    using Result = decltype(body(std::declval<Session&>()));
    if constexpr (std::is_void_v<Result>) {
        run(operation, body);
    } else {
        std::optional<Result> result;
        run(operation, [&](Session& session) { result.emplace(body(session)); });
        return std::move(*result);
    }
}

SqlTenantStore::SqlTenantStore(SqlDialect dialect, std::string name) : dialect_(dialect), name_(std::move(name)) {}

SqlTenantStore::~SqlTenantStore() = default;

int SqlTenantStore::latestSchemaVersion() {
    return storeMigrations().back().version;
}

int SqlTenantStore::schemaVersion() {
    return call("reading the schema version", [&](Session& session) { return readSchemaVersion(session); });
}

void SqlTenantStore::begin(Session& session) {
    session.begin();
}

void SqlTenantStore::commit(Session& session) {
    session.commit();
}

void SqlTenantStore::rollback(Session& session) {
    session.rollback();
}

std::string SqlTenantStore::describe(const Poco::Exception& error) const {
    return error.displayText();
}

void SqlTenantStore::run(const char* operation, const std::function<void(Session&)>& body) {
    const auto failure = [&](StoreErrorCode code, const std::string& detail) {
        return StoreError(code, std::string("tenant store: ") + operation + " failed: " + detail);
    };
    try {
        if (auto* session = boundSession(this))
            body(*session);
        else
            withSession(body);
    } catch (const StoreError&) {
        throw;
    } catch (const Poco::Exception& e) {
        throw failure(isConflict(e) ? StoreErrorCode::Conflict : StoreErrorCode::Unavailable, describe(e));
    } catch (const std::exception& e) {
        throw failure(StoreErrorCode::Unavailable, e.what());
    }
}

int SqlTenantStore::readSchemaVersion(Session& session) {
    int version = 0;
    session << "SELECT COALESCE(MAX(version), 0) FROM schema_version", into(version), now;
    return version;
}

void SqlTenantStore::migrate(Session& session) {
    const int latest = latestSchemaVersion();
    const auto refuseNewer = [&](int current) {
        if (current > latest)
            throw StoreError(StoreErrorCode::Unavailable,
                             "tenant store: " + name_ + " has schema version " + std::to_string(current) +
                                 ", newer than this sideband-host knows (" + std::to_string(latest) +
                                 "); upgrade sideband-host or use another database");
    };
    // An up-to-date database is only read: no SQLite write lock, no PostgreSQL schema lock, so a
    // replica or `tenants list` next to a busy host opens without waiting. A failure here (no
    // table yet) is decided below.
    try {
        const int current = readSchemaVersion(session);
        refuseNewer(current);
        if (current == latest) return;
    } catch (const Poco::Exception&) {
    }

    Transaction transaction(*this, session);
    lockSchema(session);
    session << "CREATE TABLE IF NOT EXISTS schema_version ("
               " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        now;
    // Another process may have migrated while this one waited for the lock.
    const int current = readSchemaVersion(session);
    refuseNewer(current);
    for (const auto& migration : storeMigrations()) {
        if (migration.version <= current) continue;
        for (const auto& statement : migration.statements)
            session << statement, now;
        int version = migration.version;
        std::string description = migration.description;
        Poco::Int64 appliedAt = nowMillis();
        session << sql("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)"),
            useRef(version), useRef(description), useRef(appliedAt), now;
    }
    transaction.commit();
    for (const auto& migration : storeMigrations())
        if (migration.version > current)
            spdlog::info("tenant store: {} migrated to schema version {} ({})", name_, migration.version,
                         migration.description);
}

std::optional<std::string> SqlTenantStore::tenantForNumber(const std::string& e164) {
    return call("looking up a number", [&](Session& session) -> std::optional<std::string> {
        std::string tenantId;
        Statement select(session);
        select << sql("SELECT tenant_id FROM numbers WHERE e164 = ?"), useRef(e164), into(tenantId);
        if (select.execute() == 0) return std::nullopt;
        return tenantId;
    });
}

Instructions SqlTenantStore::instructions(const std::string& tenantId) {
    return call("reading instructions", [&](Session& session) {
        int enabled = 0;
        Statement tenant(session);
        tenant << sql("SELECT enabled FROM tenants WHERE id = ?"), useRef(tenantId), into(enabled);
        if (tenant.execute() == 0 || !enabled)
            throw StoreError(StoreErrorCode::TenantNotConfigured,
                             "tenant " + tenantId + " is not configured or is disabled");
        Instructions result;
        Statement select(session);
        select << sql("SELECT prompt, greeting FROM instructions WHERE tenant_id = ?"), useRef(tenantId),
            into(result.prompt), into(result.greeting);
        if (select.execute() == 0 || isBlank(result.prompt))
            throw StoreError(StoreErrorCode::InstructionsMissing, "tenant " + tenantId + " has no instructions");
        return result;
    });
}

TenantConfig SqlTenantStore::config(const std::string& tenantId) {
    const auto [limit, configJson] = call("reading a tenant config", [&](Session& session) {
        int enabled = 0;
        Poco::Nullable<int> callLimit;
        std::string json;
        Statement select(session);
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

void SqlTenantStore::upsertTenant(const TenantDefinition& tenant) {
    upsertTenants({tenant});
}

void SqlTenantStore::upsertTenants(const std::vector<TenantDefinition>& tenants) {
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

    call("writing tenants", [&](Session& session) {
        Transaction transaction(*this, session);
        Poco::Int64 updatedAt = nowMillis();
        for (const auto& tenant : tenants) {
            int enabled = tenant.enabled ? 1 : 0;
            Poco::Nullable<int> callLimit;
            if (tenant.callLimit) callLimit = *tenant.callLimit;
            const std::string configJson = tenant.configJson.empty() ? "{}" : tenant.configJson;
            session << sql("INSERT INTO tenants (id, name, enabled, call_limit, config_json, updated_at)"
                           " VALUES (?, ?, ?, ?, ?, ?)"
                           " ON CONFLICT (id) DO UPDATE SET name = excluded.name, enabled = excluded.enabled,"
                           " call_limit = excluded.call_limit, config_json = excluded.config_json,"
                           " updated_at = excluded.updated_at"),
                useRef(tenant.id), useRef(tenant.name), useRef(enabled), useRef(callLimit), useRef(configJson),
                useRef(updatedAt), now;
            // Numbers are replaced as a set, so a number can move between tenants written together.
            session << sql("DELETE FROM numbers WHERE tenant_id = ?"), useRef(tenant.id), now;
        }
        for (const auto& tenant : tenants) {
            for (const auto& number : tenant.numbers) {
                std::string owner;
                Statement select(session);
                select << sql("SELECT tenant_id FROM numbers WHERE e164 = ?"), useRef(number), into(owner);
                if (select.execute() > 0)
                    throw StoreError(StoreErrorCode::Conflict,
                                     "tenant store: number " + number + " already belongs to tenant " + owner);
                session << sql("INSERT INTO numbers (e164, tenant_id) VALUES (?, ?)"), useRef(number),
                    useRef(tenant.id), now;
            }
            if (tenant.instructions) {
                session << sql("INSERT INTO instructions (tenant_id, prompt, greeting) VALUES (?, ?, ?)"
                               " ON CONFLICT (tenant_id) DO UPDATE SET prompt = excluded.prompt,"
                               " greeting = excluded.greeting"),
                    useRef(tenant.id), useRef(tenant.instructions->prompt), useRef(tenant.instructions->greeting), now;
            } else {
                session << sql("DELETE FROM instructions WHERE tenant_id = ?"), useRef(tenant.id), now;
            }
        }
        transaction.commit();
    });
}

std::vector<TenantDefinition> SqlTenantStore::listTenants() {
    return call("listing tenants", [&](Session& session) {
        std::vector<std::string> ids, names, configs;
        std::vector<int> enabled;
        std::vector<Poco::Nullable<int>> limits;
        session << "SELECT id, name, enabled, call_limit, config_json FROM tenants ORDER BY id", into(ids), into(names),
            into(enabled), into(limits), into(configs), now;
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
        session << "SELECT tenant_id, e164 FROM numbers ORDER BY tenant_id, e164", into(numberOwners), into(numbers),
            now;
        for (std::size_t i = 0; i < numbers.size(); ++i)
            if (const auto it = byId.find(numberOwners[i]); it != byId.end()) it->second->numbers.push_back(numbers[i]);

        std::vector<std::string> promptOwners, prompts, greetings;
        session << "SELECT tenant_id, prompt, greeting FROM instructions", into(promptOwners), into(prompts),
            into(greetings), now;
        for (std::size_t i = 0; i < prompts.size(); ++i)
            if (const auto it = byId.find(promptOwners[i]); it != byId.end())
                it->second->instructions = Instructions{prompts[i], greetings[i]};
        return tenants;
    });
}

void SqlTenantStore::saveCall(const CallRecord& record) {
    call("saving a call record", [&](Session& session) {
        int fallback = record.fallback ? 1 : 0;
        Millis receivedAt = toMillis(record.receivedAt);
        Millis acceptedAt = toMillis(record.acceptedAt);
        Millis endedAt = toMillis(record.endedAt);
        session << sql("INSERT INTO calls (call_id, webhook_id, tenant_id, caller, dialed, outcome, reject_reason,"
                       " fallback, received_at, accepted_at, ended_at, end_reason, channel)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                       " ON CONFLICT (call_id) DO UPDATE SET webhook_id = excluded.webhook_id,"
                       " tenant_id = excluded.tenant_id, caller = excluded.caller, dialed = excluded.dialed,"
                       " outcome = excluded.outcome, reject_reason = excluded.reject_reason,"
                       " fallback = excluded.fallback, received_at = excluded.received_at,"
                       " accepted_at = excluded.accepted_at, ended_at = excluded.ended_at,"
                       " end_reason = excluded.end_reason, channel = excluded.channel"),
            useRef(record.callId), useRef(record.webhookId), useRef(record.tenantId), useRef(record.caller),
            useRef(record.dialed), useRef(record.outcome), useRef(record.rejectReason), useRef(fallback),
            useRef(receivedAt), useRef(acceptedAt), useRef(endedAt), useRef(record.endReason), useRef(record.channel),
            now;
    });
}

void SqlTenantStore::recordCallEnded(const std::string& callId, const std::string& reason,
                                     CallRecord::time_point endedAt) {
    call("recording a call end", [&](Session& session) {
        Poco::Int64 at = toMillis(endedAt);
        session << sql("UPDATE calls SET ended_at = ?, end_reason = ? WHERE call_id = ? AND ended_at IS NULL"),
            useRef(at), useRef(reason), useRef(callId), now;
    });
}

bool SqlTenantStore::writeAtomically(const std::function<void(TenantStore&)>& writes) {
    call("writing call records", [&](Session& session) {
        Transaction transaction(*this, session);
        BoundSession bound(this, session);
        writes(*this);
        transaction.commit();
    });
    return true;
}

std::optional<CallRecord> SqlTenantStore::findCall(const std::string& callId) {
    return call("reading a call record", [&](Session& session) -> std::optional<CallRecord> {
        CallRecord record;
        int fallback = 0;
        Millis receivedAt, acceptedAt, endedAt;
        Statement select(session);
        select << sql("SELECT call_id, webhook_id, tenant_id, caller, dialed, outcome, reject_reason, fallback,"
                      " received_at, accepted_at, ended_at, end_reason, channel FROM calls WHERE call_id = ?"),
            useRef(callId), into(record.callId), into(record.webhookId), into(record.tenantId), into(record.caller),
            into(record.dialed), into(record.outcome), into(record.rejectReason), into(fallback), into(receivedAt),
            into(acceptedAt), into(endedAt), into(record.endReason), into(record.channel);
        if (select.execute() == 0) return std::nullopt;
        record.fallback = fallback != 0;
        record.receivedAt = fromMillis(receivedAt);
        record.acceptedAt = fromMillis(acceptedAt);
        record.endedAt = fromMillis(endedAt);
        return record;
    });
}

void SqlTenantStore::appendTranscript(const std::string& callId, const TranscriptLine& line) {
    call("appending a transcript line", [&](Session& session) {
        Poco::Int64 at = nowMillis();
        // The next sequence number is computed in the same statement. SQLite's write lock orders
        // writers; on PostgreSQL two sessions appending to one call at the same moment could pick the
        // same number (a Conflict), but a call's lines are written by one thread, the call-record writer.
        session << sql("INSERT INTO transcripts (call_id, seq, speaker, text, at)"
                       " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM transcripts WHERE call_id = ?"),
            useRef(callId), useRef(line.speaker), useRef(line.text), useRef(at), useRef(callId), now;
    });
}

std::vector<TranscriptLine> SqlTenantStore::transcript(const std::string& callId) {
    return call("reading a transcript", [&](Session& session) {
        std::vector<std::string> speakers, texts;
        session << sql("SELECT speaker, text FROM transcripts WHERE call_id = ? ORDER BY seq"), useRef(callId),
            into(speakers), into(texts), now;
        std::vector<TranscriptLine> lines;
        lines.reserve(speakers.size());
        for (std::size_t i = 0; i < speakers.size(); ++i)
            lines.push_back({speakers[i], texts[i]});
        return lines;
    });
}

void SqlTenantStore::saveWebToken(const WebToken& token, const std::string& secretHash) {
    call("saving a web token", [&](Session& session) {
        Transaction transaction(*this, session);
        Poco::Int64 known = 0;
        session << sql("SELECT COUNT(*) FROM tenants WHERE id = ?"), useRef(token.tenantId), into(known), now;
        if (known == 0)
            throw StoreError(StoreErrorCode::TenantNotConfigured, "tenant store: no tenant " + token.tenantId);
        const std::string origins = originsToJson(token.allowedOrigins);
        int rate = token.ratePerMinute;
        Poco::Int64 createdAt = toMillis(token.createdAt);
        Millis revokedAt = toMillis(token.revokedAt);
        session << sql("INSERT INTO web_tokens (id, tenant_id, secret_hash, allowed_origins, rate_per_minute,"
                       " created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            useRef(token.id), useRef(token.tenantId), useRef(secretHash), useRef(origins), useRef(rate),
            useRef(createdAt), useRef(revokedAt), now;
        transaction.commit();
    });
}

namespace {
// The columns selectWebTokens() reads, in its order (w: web_tokens).
constexpr const char* kWebTokenColumns =
    "SELECT w.id, w.tenant_id, w.allowed_origins, w.rate_per_minute, w.created_at, w.revoked_at FROM web_tokens w";
} // namespace

std::vector<WebToken> SqlTenantStore::selectWebTokens(Session& session, const std::string& where,
                                                      const std::string& value) {
    std::vector<std::string> ids, tenantIds, origins;
    std::vector<int> rates;
    std::vector<Poco::Int64> createdAt;
    std::vector<Millis> revokedAt;
    const std::string text = std::string(kWebTokenColumns) + " " + where;
    session << sql(text.c_str()), useRef(value), into(ids), into(tenantIds), into(origins), into(rates),
        into(createdAt), into(revokedAt), now;
    std::vector<WebToken> tokens(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto& token = tokens[i];
        token.id = ids[i];
        token.tenantId = tenantIds[i];
        token.allowedOrigins = originsFromJson(origins[i], token.id);
        token.ratePerMinute = rates[i];
        token.createdAt = CallRecord::time_point(std::chrono::milliseconds(createdAt[i]));
        token.revokedAt = fromMillis(revokedAt[i]);
    }
    return tokens;
}

std::vector<WebToken> SqlTenantStore::webTokens(const std::string& tenantId) {
    return call("listing web tokens", [&](Session& session) {
        return selectWebTokens(session, "WHERE w.tenant_id = ? ORDER BY w.created_at, w.id", tenantId);
    });
}

bool SqlTenantStore::revokeWebToken(const std::string& tenantId, const std::string& tokenId) {
    return call("revoking a web token", [&](Session& session) {
        Poco::Int64 at = nowMillis();
        Statement update(session);
        update << sql("UPDATE web_tokens SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL"),
            useRef(at), useRef(tokenId), useRef(tenantId);
        return update.execute() > 0; // rows affected
    });
}

std::optional<WebToken> SqlTenantStore::webTokenBySecretHash(const std::string& secretHash) {
    return call("looking up a web token", [&](Session& session) -> std::optional<WebToken> {
        auto tokens = selectWebTokens(session,
                                      "JOIN tenants t ON t.id = w.tenant_id"
                                      " WHERE w.secret_hash = ? AND w.revoked_at IS NULL AND t.enabled <> 0",
                                      secretHash);
        if (tokens.empty()) return std::nullopt;
        return std::move(tokens.front());
    });
}

} // namespace sideband::tenants
