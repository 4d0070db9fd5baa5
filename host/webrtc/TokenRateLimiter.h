#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sideband::webrtc {

// Calls per token per minute, in fixed one-minute windows. Bounded: past `maxTokens` tokens seen in
// the current window, a token not yet seen is refused (a flood of distinct valid tokens is itself
// abuse); windows that have passed are forgotten first.
class TokenRateLimiter {
public:
    using Clock = std::chrono::steady_clock;
    explicit TokenRateLimiter(std::size_t maxTokens = 100000) : maxTokens_(maxTokens) {}

    struct Decision {
        bool admitted = false;
        std::chrono::seconds retryAfter{0}; // when refused: until the window ends
    };
    Decision admit(const std::string& tokenId, int perMinute, Clock::time_point now);

private:
    struct Window {
        Clock::time_point start;
        int count = 0;
    };
    const std::size_t maxTokens_;
    std::mutex mutex_;
    std::unordered_map<std::string, Window> windows_;
};

} // namespace sideband::webrtc
