#pragma once

#include "calls/SessionLauncher.h"
#include "metrics/MetricsRegistry.h"
#include "tenants/TenantStore.h"

#include <Poco/JSON/Object.h>

#include <atomic>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace sideband::sessions {

// {"type": type, field: value, ...}: one event for a call's observer (calls::CallObserver).
std::string callEvent(const std::string& type, std::initializer_list<std::pair<const char*, std::string>> fields = {});

// One call's Realtime conversation, apart from its socket: what the sideband session does with each
// server event it receives (function calls, responses, errors, transcripts) and the frames it sends
// back (function_call_output items, response.create). SidebandSession owns one and feeds it the
// text frames its socket delivers; the fuzzer (tests/fuzz/fuzz_realtime_session.cpp) feeds it bytes.
//
// The turn protocol (reference §3): a response's function calls run once its response.done says
// `completed`, each call_id at most once although the server reports it in up to three events;
// after all their outputs, exactly one response.create. Function calls of a cancelled or incomplete
// response (the caller spoke over the model) are not run. A response.create refused because a
// response is running is sent again after that response's response.done.
//
// Threads: handleEvent() on one thread at a time (a session worker), tool outputs on the tools'
// threads; the turn state is under a mutex.
class RealtimeTurns {
public:
    struct Output {
        // Any thread: sends one text frame; frames go out in the order of the calls.
        std::function<void(std::string text)> send;
        // Held by each running tool until it answers (the session: so it outlives its tools).
        // May be empty.
        std::function<std::shared_ptr<void>()> keepAlive;
    };

    // `call`, `metrics`, `store` and `ended` must outlive this object. Nothing is sent once `ended`.
    RealtimeTurns(const calls::AcceptedCall& call, metrics::MetricsRegistry& metrics, tenants::TenantStore& store,
                  const std::atomic<bool>& ended, Output output);

    // One text frame from the server (a JSON event); anything else is logged and ignored.
    void handleEvent(const std::string& text);
    // The greeting's response.create went out with the session's first frames: it is the one sent
    // again if the server refuses it because a response is running.
    void greetingSent(std::string text);

private:
    struct FunctionCall {
        std::string callId;
        std::string name;
        std::string arguments;
    };
    void noteFunctionCall(const std::string& responseId, FunctionCall call);
    void onResponseDone(const Poco::JSON::Object::Ptr& response);
    void onActiveResponseConflict();
    void runFunctionCall(const FunctionCall& call);
    void onFunctionOutput(const std::string& functionCallId, const std::string& output);
    void sendResponseCreate(std::string text);
    void recordTranscript(const std::string& speaker, const std::string& text);
    void observe(const std::string& type, std::initializer_list<std::pair<const char*, std::string>> fields) const;

    const calls::AcceptedCall& call_;
    metrics::MetricsRegistry& metrics_;
    tenants::TenantStore& store_;
    const std::atomic<bool>& ended_;
    Output output_;

    // Turn state: events on a worker, tool outputs on tool threads.
    std::mutex turnMutex_;
    std::string activeResponse_; // between its response.created and response.done
    std::unordered_map<std::string, std::vector<FunctionCall>> responseCalls_; // until their response.done
    std::set<std::string> functionCalls_; // call_ids handled: run, or skipped with their response
    std::size_t outputsAwaited_ = 0;      // outputs of completed responses' calls still running
    std::string createWanted_;            // a response.create to send at the active response's response.done
    std::string lastCreate_;              // the last response.create sent: sent again if refused
};

} // namespace sideband::sessions
