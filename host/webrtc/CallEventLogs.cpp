#include "webrtc/CallEventLogs.h"

#include <algorithm>

namespace sideband::webrtc {

class CallEventLogs::Log final : public calls::CallObserver {
public:
    Log(std::string tokenId, std::size_t maxEvents) : tokenId_(std::move(tokenId)), maxEvents_(maxEvents) {}

    void onCallEvent(const std::string& eventJson) override {
        std::lock_guard lock(mutex_);
        events_.push_back(eventJson);
        if (events_.size() > maxEvents_) {
            events_.pop_front();
            ++first_;
        }
        if (eventJson.find(R"("type":"call.ended")") != std::string::npos) ended_ = true;
    }

    const std::string& tokenId() const { return tokenId_; }

    bool ended() const {
        std::lock_guard lock(mutex_);
        return ended_;
    }

    bool claimHangup() {
        std::lock_guard lock(mutex_);
        if (ended_ || hungUp_) return false;
        hungUp_ = true;
        return true;
    }

    Page read(std::uint64_t after) const {
        std::lock_guard lock(mutex_);
        Page page;
        page.found = true;
        page.ended = ended_;
        for (auto n = std::max(after, first_); n < first_ + events_.size(); ++n)
            page.events.push_back(events_[static_cast<std::size_t>(n - first_)]);
        page.next = first_ + events_.size();
        return page;
    }

private:
    const std::string tokenId_;
    const std::size_t maxEvents_;
    mutable std::mutex mutex_;
    std::deque<std::string> events_;
    std::uint64_t first_ = 0; // the number of events_.front()
    bool ended_ = false;
    bool hungUp_ = false;
};

CallEventLogs::CallEventLogs(std::size_t maxCalls, std::size_t maxEvents)
    : maxCalls_(maxCalls), maxEvents_(maxEvents) {}

std::shared_ptr<calls::CallObserver> CallEventLogs::open(const std::string& callId, const std::string& tokenId) {
    if (maxCalls_ == 0) return nullptr;
    auto log = std::make_shared<Log>(tokenId, maxEvents_);
    std::lock_guard lock(mutex_);
    if (logs_.size() >= maxCalls_) {
        auto victim = std::find_if(order_.begin(), order_.end(), [&](const auto& id) { return logs_[id]->ended(); });
        if (victim == order_.end()) victim = order_.begin();
        logs_.erase(*victim);
        order_.erase(victim);
    }
    if (logs_.emplace(callId, log).second) order_.push_back(callId);
    return log;
}

CallEventLogs::Page CallEventLogs::read(const std::string& callId, const std::string& tokenId,
                                        std::uint64_t after) const {
    std::shared_ptr<Log> log;
    {
        std::lock_guard lock(mutex_);
        auto it = logs_.find(callId);
        if (it == logs_.end() || it->second->tokenId() != tokenId) return {};
        log = it->second;
    }
    return log->read(after);
}

CallEventLogs::Hangup CallEventLogs::claimHangup(const std::string& callId, const std::string& tokenId) {
    std::shared_ptr<Log> log;
    {
        std::lock_guard lock(mutex_);
        auto it = logs_.find(callId);
        if (it == logs_.end() || it->second->tokenId() != tokenId) return Hangup::UnknownCall;
        log = it->second;
    }
    return log->claimHangup() ? Hangup::Claimed : Hangup::AlreadyOver;
}

} // namespace sideband::webrtc
