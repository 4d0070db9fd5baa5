#pragma once

#include "CallScript.h"
#include "RealtimeSimulator.h"
#include "WebhookSender.h"

#include <chrono>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

namespace sideband::simulator {

struct CallResult {
    std::string name;
    std::string callId;
    bool passed = false;
    std::vector<std::string> failures; // why it failed, one readable line each
    std::vector<std::string> trace;    // "[+12.3 ms] ..." lines: webhook answer, REST, events in/out, close
};

struct ScenarioReport {
    std::vector<CallResult> calls;
    bool passed() const;
};

// Plays a scenario against a running host: for each call, a signed incoming webhook, the host's
// accept/reject, its sideband socket, the scripted steps, and the expectations. Calls run one after
// another. The simulator must be started and the host pointed at simulator.baseUrl().
class ScenarioRunner {
public:
    // `live`: trace lines are also written there as they happen (nullptr: quiet).
    ScenarioRunner(RealtimeSimulator& simulator, const WebhookSender& sender, std::ostream* live = nullptr);
    ~ScenarioRunner();

    CallResult runCall(const ScenarioCall& call);
    ScenarioReport run(const Scenario& scenario);

private:
    void note(const std::string& line);

    RealtimeSimulator& simulator_;
    const WebhookSender& sender_;
    std::ostream* live_;
    std::mutex mutex_;
    std::string currentCallId_;
    std::chrono::steady_clock::time_point started_;
    std::vector<std::string> lines_;
};

} // namespace sideband::simulator
