#include "tenants/StoreMigrations.h"

namespace sideband::tenants {

const std::vector<Migration> &storeMigrations() {
    static const std::vector<Migration> migrations = {
        {1,
         "tenants, numbers, instructions, calls, transcripts",
         {
             "CREATE TABLE tenants ("
             " id TEXT PRIMARY KEY,"
             " name TEXT NOT NULL,"
             " enabled INTEGER NOT NULL DEFAULT 1,"
             " call_limit INTEGER,"
             " config_json TEXT NOT NULL DEFAULT '{}',"
             " updated_at BIGINT NOT NULL)",
             // A number routes to exactly one tenant: the primary key is the uniqueness rule.
             "CREATE TABLE numbers ("
             " e164 TEXT PRIMARY KEY,"
             " tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE)",
             "CREATE INDEX numbers_by_tenant ON numbers(tenant_id)",
             "CREATE TABLE instructions ("
             " tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,"
             " prompt TEXT NOT NULL,"
             " greeting TEXT NOT NULL DEFAULT '')",
             // No foreign key to tenants: calls that never resolved a tenant are recorded too.
             "CREATE TABLE calls ("
             " call_id TEXT PRIMARY KEY,"
             " webhook_id TEXT NOT NULL DEFAULT '',"
             " tenant_id TEXT NOT NULL DEFAULT '',"
             " caller TEXT NOT NULL DEFAULT '',"
             " dialed TEXT NOT NULL DEFAULT '',"
             " outcome TEXT NOT NULL DEFAULT '',"
             " reject_reason TEXT NOT NULL DEFAULT '',"
             " fallback INTEGER NOT NULL DEFAULT 0,"
             " received_at BIGINT,"
             " accepted_at BIGINT,"
             " ended_at BIGINT,"
             " end_reason TEXT NOT NULL DEFAULT '')",
             "CREATE INDEX calls_by_tenant ON calls(tenant_id, received_at)",
             "CREATE TABLE transcripts ("
             " call_id TEXT NOT NULL,"
             " seq INTEGER NOT NULL,"
             " speaker TEXT NOT NULL,"
             " text TEXT NOT NULL,"
             " at BIGINT NOT NULL,"
             " PRIMARY KEY (call_id, seq))",
         }},
        {2,
         "web_tokens; calls.channel",
         {
             // A browser's token for a tenant's WebRTC calls: only the SHA-256 of its secret is kept
             // (the unique index is the lookup). allowed_origins is a JSON array of strings ([]: any).
             "CREATE TABLE web_tokens ("
             " id TEXT PRIMARY KEY,"
             " tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
             " secret_hash TEXT NOT NULL UNIQUE,"
             " allowed_origins TEXT NOT NULL DEFAULT '[]',"
             " rate_per_minute INTEGER NOT NULL DEFAULT 30,"
             " created_at BIGINT NOT NULL,"
             " revoked_at BIGINT)",
             "CREATE INDEX web_tokens_by_tenant ON web_tokens(tenant_id, created_at)",
             // Calls recorded before WebRTC came in by SIP.
             "ALTER TABLE calls ADD COLUMN channel TEXT NOT NULL DEFAULT 'sip'",
         }},
    };
    return migrations;
}

} // namespace sideband::tenants
