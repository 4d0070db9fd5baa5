#pragma once

#include <Poco/JSON/Object.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sideband::tenants {

// Store failures, typed like the product spec's errors so the pipeline can map each to its
// outcome (reject reason or downtime fallback).
enum class StoreErrorCode {
    TenantNotConfigured, // unknown or disabled tenant
    InstructionsMissing, // tenant exists, no instructions row (or empty prompt)
    ConfigParseError,    // tenant's config JSON does not parse or has wrong shapes
    Unavailable,         // the database cannot be reached / query failed
    Conflict,            // a write would break a uniqueness rule (a number owned by another tenant)
};

class StoreError : public std::runtime_error {
public:
    StoreError(StoreErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    StoreErrorCode code() const { return code_; }

private:
    StoreErrorCode code_;
};

struct Instructions {
    std::string prompt;
    std::string greeting;
};

// A tenant's runtime configuration, parsed from its config JSON.
struct TenantConfig {
    std::string tenantId;
    std::optional<int> callLimit;     // per-tenant concurrent call limit (overrides the default)
    std::string plugin;               // plugin file name inside SIDEBAND_PLUGIN_DIR; empty: no tools
    std::string pluginSha256;         // optional pin (lower-case hex)
    Poco::JSON::Object::Ptr settings; // the whole config object (model, voice, tool_timeout_ms, plugin_config...)
};

// A tenant as defined in tenants/<id>/tenant.json and stored by `sideband-host tenants import`.
struct TenantDefinition {
    std::string id;
    std::string name;
    bool enabled = true;
    std::optional<int> callLimit;
    std::vector<std::string> numbers; // E.164, unique across tenants
    std::string configJson;           // the tenant's config object as JSON text
    std::optional<Instructions> instructions;
};

struct CallRecord {
    using time_point = std::chrono::system_clock::time_point;
    std::string callId;
    std::string webhookId;
    std::string tenantId;
    std::string caller;
    std::string dialed;
    std::string outcome;      // accepted | rejected | accept_failed | accept_refused | caller_gone
    std::string rejectReason; // the spec's reason when rejected
    bool fallback = false;
    std::optional<time_point> receivedAt;
    std::optional<time_point> acceptedAt;
    std::optional<time_point> endedAt;
    std::string endReason;
    std::string channel = "sip"; // sip | webrtc
};

// A browser's credential for one tenant's WebRTC calls (POST /api/v1/webrtc/calls). Only a hash of
// its secret is stored; the secret is shown once, by `tenants token create`.
struct WebToken {
    std::string id; // public handle: "wt_" + 12 lower-case hex; listed and revoked by it
    std::string tenantId;
    std::vector<std::string> allowedOrigins; // exact Origin values ("https://shop.example"); empty: any origin
    int ratePerMinute = 30;                  // calls this token may create per minute
    std::chrono::system_clock::time_point createdAt;
    std::optional<std::chrono::system_clock::time_point> revokedAt;
};

struct TranscriptLine {
    std::string speaker; // caller | agent
    std::string text;
};

// Tenants, phone numbers, instructions, configs, web tokens and call records. The embedded default is a
// SQLite file; a PostgreSQL implementation serves several replicas. Every method is thread-safe
// and throws StoreError (never a database exception).
class TenantStore {
public:
    virtual ~TenantStore() = default;

    // The tenant owning an E.164 number, or nullopt.
    virtual std::optional<std::string> tenantForNumber(const std::string& e164) = 0;
    virtual Instructions instructions(const std::string& tenantId) = 0;
    virtual TenantConfig config(const std::string& tenantId) = 0;

    // Inserts or updates a tenant with its numbers and instructions, atomically.
    virtual void upsertTenant(const TenantDefinition& tenant) = 0;
    // Several tenants in one transaction: all are written or none (`sideband-host tenants import`).
    // Numbers may move between the tenants written together. The default is not atomic; stores
    // that can be, override it.
    virtual void upsertTenants(const std::vector<TenantDefinition>& tenants) {
        for (const auto& tenant : tenants)
            upsertTenant(tenant);
    }
    virtual std::vector<TenantDefinition> listTenants() = 0;

    // Call records: insert or replace by call id.
    virtual void saveCall(const CallRecord& record) = 0;
    virtual void recordCallEnded(const std::string& callId, const std::string& reason,
                                 CallRecord::time_point endedAt) = 0;
    virtual std::optional<CallRecord> findCall(const std::string& callId) = 0;
    virtual void appendTranscript(const std::string& callId, const TranscriptLine& line) = 0;
    virtual std::vector<TranscriptLine> transcript(const std::string& callId) = 0;

    // Web tokens (WebTokens.h makes them). Never cached by a decorator: a revocation takes effect
    // for the next lookup.
    // The tenant must exist: else StoreError TenantNotConfigured.
    virtual void saveWebToken(const WebToken& token, const std::string& secretHash) = 0;
    // Revoked ones included, oldest first.
    virtual std::vector<WebToken> webTokens(const std::string& tenantId) = 0;
    // False: no such active token of that tenant.
    virtual bool revokeWebToken(const std::string& tenantId, const std::string& tokenId) = 0;
    // Active (not revoked) tokens of enabled tenants only.
    virtual std::optional<WebToken> webTokenBySecretHash(const std::string& secretHash) = 0;

    // Group commit for the call-record writer: `writes` calls this store's call-record writes
    // (saveCall, recordCallEnded, appendTranscript). A store that can applies them as one
    // transaction, all or none with one commit, and returns true (or throws StoreError, having
    // written none). The default writes nothing and returns false: the caller then makes the writes
    // one by one.
    virtual bool writeAtomically(const std::function<void(TenantStore&)>& writes) {
        (void)writes;
        return false;
    }
};

} // namespace sideband::tenants
