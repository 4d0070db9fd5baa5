#pragma once

#include "tenants/TenantStore.h"

#include <memory>

namespace sideband::tenants {

// A TenantStore that passes every operation to the store it wraps: the base of the store
// decorators (CachingTenantStore, WriteBehindTenantStore), which override only what they change.
// writeAtomically is not passed on: a group handed to the wrapped store would bypass the
// decorator's own handling of its writes, so the decorators keep the default (false: write one by one).
class ForwardingTenantStore : public TenantStore {
public:
    explicit ForwardingTenantStore(std::unique_ptr<TenantStore> store) : store_(std::move(store)) {}

    std::optional<std::string> tenantForNumber(const std::string& e164) override {
        return store_->tenantForNumber(e164);
    }
    Instructions instructions(const std::string& tenantId) override { return store_->instructions(tenantId); }
    TenantConfig config(const std::string& tenantId) override { return store_->config(tenantId); }
    void upsertTenant(const TenantDefinition& tenant) override { store_->upsertTenant(tenant); }
    void upsertTenants(const std::vector<TenantDefinition>& tenants) override { store_->upsertTenants(tenants); }
    std::vector<TenantDefinition> listTenants() override { return store_->listTenants(); }

    void saveCall(const CallRecord& record) override { store_->saveCall(record); }
    void recordCallEnded(const std::string& callId, const std::string& reason,
                         CallRecord::time_point endedAt) override {
        store_->recordCallEnded(callId, reason, endedAt);
    }
    std::optional<CallRecord> findCall(const std::string& callId) override { return store_->findCall(callId); }
    void appendTranscript(const std::string& callId, const TranscriptLine& line) override {
        store_->appendTranscript(callId, line);
    }
    std::vector<TranscriptLine> transcript(const std::string& callId) override { return store_->transcript(callId); }

    void saveWebToken(const WebToken& token, const std::string& secretHash) override {
        store_->saveWebToken(token, secretHash);
    }
    std::vector<WebToken> webTokens(const std::string& tenantId) override { return store_->webTokens(tenantId); }
    bool revokeWebToken(const std::string& tenantId, const std::string& tokenId) override {
        return store_->revokeWebToken(tenantId, tokenId);
    }
    std::optional<WebToken> webTokenBySecretHash(const std::string& secretHash) override {
        return store_->webTokenBySecretHash(secretHash);
    }

protected:
    const std::unique_ptr<TenantStore> store_;
};

} // namespace sideband::tenants
