#include "webhook/WebhookDeduplicator.h"

namespace sideband::webhook {

InMemoryWebhookDeduplicator::InMemoryWebhookDeduplicator(const Clock& clock, std::chrono::seconds ttl,
                                                         std::chrono::seconds purgeInterval)
    : clock_(clock), ttl_(ttl), purgeInterval_(purgeInterval), lastPurge_(clock.now()) {}

WebhookDeduplicator::Claim InMemoryWebhookDeduplicator::claim(const std::string& webhookId) {
    const auto now = clock_.now();
    std::lock_guard lock(mutex_);
    if (now - lastPurge_ >= purgeInterval_) purgeExpiredLocked(now);

    auto [it, inserted] = entries_.try_emplace(webhookId, Clock::time_point::max());
    if (inserted) return Claim::New;
    if (it->second == Clock::time_point::max()) return Claim::InFlight;
    if (it->second > now) return Claim::Duplicate;
    it->second = Clock::time_point::max(); // expired but not yet purged: a fresh delivery
    return Claim::New;
}

void InMemoryWebhookDeduplicator::complete(const std::string& webhookId) {
    const auto expiry = clock_.now() + ttl_;
    std::lock_guard lock(mutex_);
    entries_[webhookId] = expiry;
    expiryQueue_.emplace_back(expiry, webhookId);
}

void InMemoryWebhookDeduplicator::abandon(const std::string& webhookId) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(webhookId);
    if (it != entries_.end() && it->second == Clock::time_point::max()) entries_.erase(it);
}

void InMemoryWebhookDeduplicator::purgeExpired() {
    const auto now = clock_.now();
    std::lock_guard lock(mutex_);
    purgeExpiredLocked(now);
}

void InMemoryWebhookDeduplicator::purgeExpiredLocked(Clock::time_point now) {
    lastPurge_ = now;
    while (!expiryQueue_.empty() && expiryQueue_.front().first <= now) {
        const auto& [expiry, id] = expiryQueue_.front();
        auto it = entries_.find(id);
        // Only erase if this queue entry is still the id's current expiry (it may have been
        // re-claimed and completed again since).
        if (it != entries_.end() && it->second == expiry) entries_.erase(it);
        expiryQueue_.pop_front();
    }
}

std::size_t InMemoryWebhookDeduplicator::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

} // namespace sideband::webhook
