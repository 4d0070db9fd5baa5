#pragma once

#include "calls/SessionLauncher.h"

#include <mutex>
#include <vector>

namespace sideband::testing {

class FakeSessionLauncher final : public calls::SessionLauncher {
public:
    void launch(calls::AcceptedCall call) override {
        std::lock_guard lock(mutex_);
        launched.push_back(std::move(call));
    }
    void endCall(const std::string& callId, const std::string& reason) override {
        std::lock_guard lock(mutex_);
        ended.emplace_back(callId, reason);
    }
    std::mutex mutex_;
    std::vector<calls::AcceptedCall> launched;
    std::vector<std::pair<std::string, std::string>> ended;
};

} // namespace sideband::testing
