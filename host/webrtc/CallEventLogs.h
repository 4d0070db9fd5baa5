#pragma once

#include "calls/SessionLauncher.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sideband::webrtc {

// The live event logs of browser calls, for the page that placed them: per call, the events its
// session reports (calls::CallObserver), readable only with the token that created the call.
// Bounded twice: each log keeps its last `maxEvents`; at most `maxCalls` logs are kept, and a new
// one first pushes out the oldest ended call's log (else the oldest one).
class CallEventLogs {
public:
    CallEventLogs(std::size_t maxCalls, std::size_t maxEvents = 256);

    // A new call's log; the observer goes into its AcceptedCall. Null when no log is kept.
    std::shared_ptr<calls::CallObserver> open(const std::string& callId, const std::string& tokenId);

    struct Page {
        bool found = false;              // a log of that call, created with that token
        std::vector<std::string> events; // JSON objects, oldest first
        std::uint64_t next = 0;          // the number to read from next time
        bool ended = false;              // call.ended has been logged
    };
    // The events numbered `after` and on (numbers start at 0; events pushed out are skipped).
    Page read(const std::string& callId, const std::string& tokenId, std::uint64_t after) const;
    enum class Hangup { UnknownCall, Claimed, AlreadyOver };
    // A browser's hang-up of a call `tokenId` created: Claimed the first time while the call is on
    // (the caller then hangs it up), AlreadyOver once claimed or ended, so asking again costs no
    // REST call.
    Hangup claimHangup(const std::string& callId, const std::string& tokenId);

private:
    class Log;
    const std::size_t maxCalls_;
    const std::size_t maxEvents_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<Log>> logs_;
    std::deque<std::string> order_; // call ids, oldest first
};

} // namespace sideband::webrtc
