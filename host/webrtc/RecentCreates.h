#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sideband::webrtc {

// The calls created lately, by their idempotency key (token and offer): the same offer sent again
// (a browser retrying its POST) is answered with its call, without a second slot or request.
// Bounded: past `capacity` keys the oldest is forgotten (a retry comes within seconds).
class RecentCreates {
public:
    struct Created {
        std::string callId;
        std::string sdpAnswer;
    };
    explicit RecentCreates(std::size_t capacity = 256) : capacity_(capacity) {}

    std::optional<Created> find(const std::string& key) const {
        std::lock_guard lock(mutex_);
        auto it = byKey_.find(key);
        if (it == byKey_.end()) return std::nullopt;
        return it->second;
    }
    void remember(const std::string& key, Created created) {
        std::lock_guard lock(mutex_);
        if (!byKey_.insert_or_assign(key, std::move(created)).second) return;
        order_.push_back(key);
        if (order_.size() > capacity_) {
            byKey_.erase(order_.front());
            order_.pop_front();
        }
    }

private:
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Created> byKey_;
    std::deque<std::string> order_; // keys, oldest first
};

} // namespace sideband::webrtc
