#pragma once

#include "tenants/TenantStore.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

namespace sideband::testing {

// An in-memory TenantStore whose failures are switchable, for pipeline tests.
class FakeTenantStore : public tenants::TenantStore {
public:
    struct Tenant {
        bool enabled = true;
        std::optional<int> callLimit;
        std::optional<tenants::Instructions> instructions;
        std::string configJson = "{}";
    };

    void addTenant(const std::string& id, const std::string& number, Tenant tenant) {
        std::lock_guard lock(mutex_);
        tenants_[id] = std::move(tenant);
        numbers_[number] = id;
    }
    void setUnavailable(bool down) { unavailable_ = down; }
    void setUnavailableFor(const std::string& operation) {
        std::lock_guard lock(mutex_);
        unavailableOperation_ = operation;
    }
    // How many times an operation ("resolve", "instructions", "config", ...) reached this store.
    int reads(const std::string& operation) {
        std::lock_guard lock(mutex_);
        return reads_[operation];
    }

    std::optional<std::string> tenantForNumber(const std::string& e164) override {
        fail("resolve");
        std::lock_guard lock(mutex_);
        auto it = numbers_.find(e164);
        if (it == numbers_.end()) return std::nullopt;
        return it->second;
    }
    tenants::Instructions instructions(const std::string& tenantId) override {
        fail("instructions");
        std::lock_guard lock(mutex_);
        const auto& tenant = find(tenantId);
        if (!tenant.instructions || tenant.instructions->prompt.empty())
            throw tenants::StoreError(tenants::StoreErrorCode::InstructionsMissing, "no instructions for " + tenantId);
        return *tenant.instructions;
    }
    tenants::TenantConfig config(const std::string& tenantId) override;
    void upsertTenant(const tenants::TenantDefinition&) override {}
    std::vector<tenants::TenantDefinition> listTenants() override { return {}; }
    void saveCall(const tenants::CallRecord& record) override {
        fail("save_call");
        std::lock_guard lock(mutex_);
        calls_[record.callId] = record;
    }
    void recordCallEnded(const std::string& callId, const std::string& reason,
                         tenants::CallRecord::time_point endedAt) override {
        fail("record_end");
        std::lock_guard lock(mutex_);
        calls_[callId].endReason = reason;
        calls_[callId].endedAt = endedAt;
    }
    std::optional<tenants::CallRecord> findCall(const std::string& callId) override {
        std::lock_guard lock(mutex_);
        auto it = calls_.find(callId);
        if (it == calls_.end()) return std::nullopt;
        return it->second;
    }
    void appendTranscript(const std::string& callId, const tenants::TranscriptLine& line) override {
        std::lock_guard lock(mutex_);
        transcripts_[callId].push_back(line);
    }
    std::vector<tenants::TranscriptLine> transcript(const std::string& callId) override {
        std::lock_guard lock(mutex_);
        return transcripts_[callId];
    }

    // Web tokens: kept with their secret hash; failures switchable as "save_web_token",
    // "web_tokens", "revoke_web_token" and "web_token" (the lookup by hash).
    void saveWebToken(const tenants::WebToken& token, const std::string& secretHash) override {
        fail("save_web_token");
        std::lock_guard lock(mutex_);
        if (!tenants_.count(token.tenantId))
            throw tenants::StoreError(tenants::StoreErrorCode::TenantNotConfigured, "no tenant " + token.tenantId);
        webTokens_.push_back({token, secretHash});
    }
    std::vector<tenants::WebToken> webTokens(const std::string& tenantId) override {
        fail("web_tokens");
        std::lock_guard lock(mutex_);
        std::vector<tenants::WebToken> tokens;
        for (const auto& stored : webTokens_)
            if (stored.token.tenantId == tenantId) tokens.push_back(stored.token);
        std::stable_sort(tokens.begin(), tokens.end(),
                         [](const auto& a, const auto& b) { return a.createdAt < b.createdAt; });
        return tokens;
    }
    bool revokeWebToken(const std::string& tenantId, const std::string& tokenId) override {
        fail("revoke_web_token");
        std::lock_guard lock(mutex_);
        for (auto& stored : webTokens_)
            if (stored.token.id == tokenId && stored.token.tenantId == tenantId && !stored.token.revokedAt) {
                stored.token.revokedAt = std::chrono::system_clock::now();
                return true;
            }
        return false;
    }
    std::optional<tenants::WebToken> webTokenBySecretHash(const std::string& secretHash) override {
        fail("web_token");
        std::lock_guard lock(mutex_);
        for (const auto& stored : webTokens_) {
            if (stored.secretHash != secretHash || stored.token.revokedAt) continue;
            const auto tenant = tenants_.find(stored.token.tenantId);
            if (tenant != tenants_.end() && tenant->second.enabled) return stored.token;
        }
        return std::nullopt;
    }

private:
    void fail(const std::string& operation) {
        bool down = unavailable_;
        {
            std::lock_guard lock(mutex_);
            ++reads_[operation];
            down = down || unavailableOperation_ == operation;
        }
        if (down)
            throw tenants::StoreError(tenants::StoreErrorCode::Unavailable, "database is down (" + operation + ")");
    }
    const Tenant& find(const std::string& tenantId) {
        auto it = tenants_.find(tenantId);
        if (it == tenants_.end() || !it->second.enabled)
            throw tenants::StoreError(tenants::StoreErrorCode::TenantNotConfigured, "tenant not configured: " + tenantId);
        return it->second;
    }

    std::mutex mutex_;
    std::atomic<bool> unavailable_{false};
    std::string unavailableOperation_;
    std::map<std::string, Tenant> tenants_;
    std::map<std::string, std::string> numbers_;
    std::map<std::string, tenants::CallRecord> calls_;
    std::map<std::string, std::vector<tenants::TranscriptLine>> transcripts_;
    std::map<std::string, int> reads_;
    struct StoredWebToken {
        tenants::WebToken token;
        std::string secretHash;
    };
    std::vector<StoredWebToken> webTokens_;
};

} // namespace sideband::testing
