#include "webrtc/TokenRateLimiter.h"

namespace sideband::webrtc {

namespace {
constexpr std::chrono::minutes kWindow{1};
}

TokenRateLimiter::Decision TokenRateLimiter::admit(const std::string& tokenId, int perMinute, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = windows_.find(tokenId);
    if (it == windows_.end()) {
        if (windows_.size() >= maxTokens_) {
            for (auto w = windows_.begin(); w != windows_.end();)
                w = now - w->second.start >= kWindow ? windows_.erase(w) : std::next(w);
            if (windows_.size() >= maxTokens_) return {false, std::chrono::seconds(60)};
        }
        it = windows_.emplace(tokenId, Window{now, 0}).first;
    }
    auto& window = it->second;
    if (now - window.start >= kWindow) window = {now, 0};
    if (window.count >= perMinute) {
        const auto left = std::chrono::ceil<std::chrono::seconds>(window.start + kWindow - now);
        return {false, std::max(left, std::chrono::seconds(1))};
    }
    ++window.count;
    return {true, {}};
}

} // namespace sideband::webrtc
