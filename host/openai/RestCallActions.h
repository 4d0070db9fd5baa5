#pragma once

#include "openai/CallControl.h"
#include "plugins/CallTools.h"

#include <atomic>
#include <string>

namespace sideband::openai {

// A call's actions (transfer, hang up) as OpenAI REST call control: what a tool's call context
// does when the plugin asks to transfer or end the call.
class RestCallActions final : public plugins::CallActions {
public:
    RestCallActions(CallControl& control, std::string callId) : control_(control), callId_(std::move(callId)) {}

    void transfer(const std::string& targetUri) override;
    void hangup() override;
    bool endedCall() const override { return endedCall_; }

private:
    CallControl& control_;
    std::string callId_;
    std::atomic<int> referCount_{0};
    std::atomic<bool> endedCall_{false};
};

} // namespace sideband::openai
