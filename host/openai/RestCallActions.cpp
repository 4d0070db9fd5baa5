#include "openai/RestCallActions.h"

#include <stdexcept>

namespace sideband::openai {

void RestCallActions::transfer(const std::string& targetUri) {
    if (targetUri.rfind("tel:", 0) != 0 && targetUri.rfind("sip:", 0) != 0 && targetUri.rfind("sips:", 0) != 0)
        throw std::invalid_argument("transfer target must be a tel:, sip: or sips: URI");
    // One key per transfer request of this call: a retry of the same request reuses it.
    const auto key = "refer_" + callId_ + "_" + std::to_string(++referCount_);
    const auto result = control_.refer(callId_, targetUri, key);
    if (!result.ok()) throw std::runtime_error("transfer failed: " + result.error);
    endedCall_ = true;
}

void RestCallActions::hangup() {
    const auto result = control_.hangup(callId_, "hangup_" + callId_);
    if (!result.ok() && !result.notFound()) throw std::runtime_error("hangup failed: " + result.error);
    endedCall_ = true;
}

} // namespace sideband::openai
