#pragma once

#include "openai/CallControl.h"

#include <deque>
#include <mutex>
#include <vector>

namespace sideband::testing {

// Records every call-control request and answers from a script (default: 200).
class FakeCallControl final : public openai::CallControl {
public:
    struct Request {
        std::string action; // accept | reject | refer | hangup
        std::string callId;
        std::string body;   // accept: session JSON; reject: SIP status; refer: target
        std::string idempotencyKey;
    };

    void answerNext(const std::string& action, int status) {
        std::lock_guard lock(mutex_);
        script_.push_back({action, status});
    }
    std::vector<Request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::vector<Request> requests(const std::string& action) const {
        std::vector<Request> matching;
        for (const auto& r : requests())
            if (r.action == action) matching.push_back(r);
        return matching;
    }

    openai::RestResult accept(const std::string& callId, const std::string& session, const std::string& key) override {
        return record({"accept", callId, session, key});
    }
    openai::RestResult reject(const std::string& callId, int sipStatus, const std::string& key) override {
        return record({"reject", callId, std::to_string(sipStatus), key});
    }
    openai::RestResult refer(const std::string& callId, const std::string& target, const std::string& key) override {
        return record({"refer", callId, target, key});
    }
    openai::RestResult hangup(const std::string& callId, const std::string& key) override {
        return record({"hangup", callId, "", key});
    }

private:
    openai::RestResult record(Request request) {
        std::lock_guard lock(mutex_);
        openai::RestResult result{200, "", 1};
        for (auto it = script_.begin(); it != script_.end(); ++it) {
            if (it->first == request.action) {
                result.status = it->second;
                if (!result.ok()) result.error = "HTTP " + std::to_string(it->second);
                script_.erase(it);
                break;
            }
        }
        requests_.push_back(std::move(request));
        return result;
    }

    mutable std::mutex mutex_;
    std::vector<Request> requests_;
    std::deque<std::pair<std::string, int>> script_;
};

} // namespace sideband::testing
