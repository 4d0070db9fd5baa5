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
        std::string action; // create | accept | reject | refer | hangup
        std::string callId; // create: the id it answered
        std::string body;   // create and accept: session JSON; reject: SIP status; refer: target
        std::string idempotencyKey;
        std::string sdp = {}; // create: the offer (last: the other actions' initialisers stop before it)
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

    // create answers 201 with a fresh "rtc_fake_N" id and an SDP answer naming it, unless scripted.
    openai::CreatedCall create(const std::string& sdpOffer, const std::string& session,
                               const std::string& key) override {
        std::string callId;
        {
            std::lock_guard lock(mutex_);
            callId = "rtc_fake_" + std::to_string(++created_);
        }
        openai::CreatedCall created;
        created.result = record({"create", callId, session, key, sdpOffer}, 201);
        if (!created.result.ok()) return created;
        created.callId = callId;
        created.sdpAnswer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=" + callId + "\r\nt=0 0\r\n";
        return created;
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
    openai::RestResult record(Request request, int okStatus = 200) {
        std::lock_guard lock(mutex_);
        openai::RestResult result{okStatus, "", 1};
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
    int created_ = 0;
};

} // namespace sideband::testing
