#pragma once

#include "tenants/SqlDialect.h"
#include "tenants/TenantStore.h"

#include <functional>
#include <string>

namespace Poco {
class Exception;
namespace Data {
class Session;
}
} // namespace Poco

namespace sideband::tenants {

// The TenantStore in SQL, written once for SQLite and PostgreSQL: the statements (with `?`
// markers, rewritten per dialect), the migrations and the mapping of database errors to
// StoreError. A backend says where a session comes from, how a write transaction starts, and
// which errors are constraint violations.
//
// Every operation runs on one session given by withSession(); the writes inside writeAtomically
// (and the statements of upsertTenants) share the session of their transaction.
class SqlTenantStore : public TenantStore {
public:
    ~SqlTenantStore() override;

    // The newest schema version this binary knows (the last migration's).
    static int latestSchemaVersion();
    // The version recorded in the database.
    int schemaVersion();

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
    void saveWebToken(const WebToken& token, const std::string& secretHash) override;
    std::vector<WebToken> webTokens(const std::string& tenantId) override;
    bool revokeWebToken(const std::string& tenantId, const std::string& tokenId) override;
    std::optional<WebToken> webTokenBySecretHash(const std::string& secretHash) override;

    // One transaction around the writes; any failure rolls all of them back.
    bool writeAtomically(const std::function<void(TenantStore&)>& writes) override;

protected:
    // `name` names the database in messages (a path, or a URL without its password).
    SqlTenantStore(SqlDialect dialect, std::string name);

    // Calls `use` with a session for one operation. Database exceptions pass through.
    virtual void withSession(const std::function<void(Poco::Data::Session&)>& use) = 0;
    // Write transactions; the defaults are Session::begin(), commit() and rollback().
    virtual void begin(Poco::Data::Session& session);
    virtual void commit(Poco::Data::Session& session);
    virtual void rollback(Poco::Data::Session& session);
    // Called first in the migration transaction: keeps other processes off the schema until it ends.
    virtual void lockSchema(Poco::Data::Session& session) { (void)session; }
    // A constraint violation (the same key written twice)?
    virtual bool isConflict(const Poco::Exception& error) const = 0;
    // The error's text for a StoreError message; it must not repeat bound values.
    virtual std::string describe(const Poco::Exception& error) const;

    // Applies the pending migrations in one transaction. Throws StoreError(Unavailable) for a
    // database whose schema is newer than this binary.
    void migrate(Poco::Data::Session& session);
    const std::string& name() const { return name_; }

private:
    class Transaction;
    class BoundSession;

    // Runs `body` on this thread's transaction session, else on one from withSession(), and turns
    // every failure into StoreError naming the operation. call() returns what `body` returns.
    void run(const char* operation, const std::function<void(Poco::Data::Session&)>& body);
    template <typename Body> auto call(const char* operation, Body&& body);
    int readSchemaVersion(Poco::Data::Session& session);
    // The web tokens matching `where` (a JOIN and/or WHERE clause with one `?`, bound to `value`).
    std::vector<WebToken> selectWebTokens(Poco::Data::Session& session, const std::string& where,
                                          const std::string& value);
    std::string sql(const char* text) const { return bindMarkers(text, dialect_); }

    const SqlDialect dialect_;
    const std::string name_;
};

} // namespace sideband::tenants
