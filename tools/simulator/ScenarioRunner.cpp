#include "ScenarioRunner.h"

#include "core/Json.h"

#include <Poco/JSON/Object.h>

#include <cstdio>
#include <thread>

namespace sideband::simulator {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

} // namespace

bool ScenarioReport::passed() const {
    for (const auto& call : calls)
        if (!call.passed) return false;
    return true;
}

ScenarioRunner::ScenarioRunner(RealtimeSimulator& simulator, const WebhookSender& sender, std::ostream* live)
    : simulator_(simulator), sender_(sender), live_(live) {
    simulator_.setTraceSink([this](const std::string& callId, const std::string& line) {
        bool mine;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            mine = !currentCallId_.empty() && callId == currentCallId_;
        }
        if (mine) note(line);
    });
}

ScenarioRunner::~ScenarioRunner() {
    simulator_.setTraceSink(nullptr);
}

void ScenarioRunner::note(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "[+%8.1f ms] ", ms);
    lines_.push_back(stamp + line);
    if (live_) *live_ << "  " << lines_.back() << '\n' << std::flush;
}

CallResult ScenarioRunner::runCall(const ScenarioCall& call) {
    using namespace std::chrono_literals;
    CallResult result;
    result.name = call.name;
    IncomingCall incoming;
    incoming.callId = call.callId;
    incoming.from = call.from;
    incoming.fromName = call.fromName;
    incoming.to = call.to;
    incoming.extraSipHeaders = call.extraSipHeaders;
    const auto event = makeIncomingCallEvent(incoming);
    result.callId = event.callId;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        currentCallId_ = event.callId;
        started_ = std::chrono::steady_clock::now();
        lines_.clear();
    }
    if (live_) *live_ << "call \"" << call.name << "\" (" << event.callId << ")\n";
    auto failures = std::vector<std::string>();
    auto fail = [&](const std::string& message) {
        failures.push_back(message);
        note("FAIL: " + message);
    };
    simulator_.setScript(event.callId, call.script);
    for (const auto& fault : call.restFaults) {
        if (fault.delay.count() > 0) simulator_.delayNext(fault.action, fault.delay, fault.times, event.callId);
        if (fault.status != 0) simulator_.failNext(fault.action, fault.status, fault.times, event.callId);
        note("REST fault queued: " + fault.action + " x" + std::to_string(fault.times) +
             (fault.status ? " -> " + std::to_string(fault.status) : std::string()) +
             (fault.delay.count() ? " after " + std::to_string(fault.delay.count()) + " ms" : std::string()));
    }

    // 1. The signed incoming-call webhook, and any redeliveries of the very same event.
    note("webhook realtime.call.incoming " + event.eventId + " (webhook-id " + event.webhookId + ") from " + call.from +
         " to " + call.to);
    WebhookDelivery delivery;
    for (int attempt = 0; attempt <= call.redeliver; ++attempt) {
        delivery = sender_.deliver(event);
        if (!delivery.error.empty())
            note("webhook delivery failed: " + delivery.error);
        else
            note(std::string(attempt ? "redelivery" : "webhook") + " answer " + std::to_string(delivery.status) + " " +
                 delivery.body);
        if (attempt == 0 && !delivery.error.empty()) break;
    }
    if (!delivery.error.empty()) {
        fail("webhook not delivered: " + delivery.error);
    } else {
        if (delivery.status != call.expect.webhookStatus)
            fail("webhook answered " + std::to_string(delivery.status) + ", expected " +
                 std::to_string(call.expect.webhookStatus));
        for (const auto& needle : call.expect.webhookBodyContains)
            if (!contains(delivery.body, needle)) fail("webhook answer lacks " + needle + ": " + delivery.body);
    }

    // 2. The host decides inside the webhook request; a short grace covers a host that answers first.
    std::string outcome = "none";
    if (delivery.error.empty()) {
        const auto deadline = std::chrono::steady_clock::now() + 3s;
        while (std::chrono::steady_clock::now() < deadline) {
            for (const auto& request : simulator_.restRequests(event.callId)) {
                if (request.action == "accept") outcome = "accept";
                if (request.action == "reject" && outcome != "accept") outcome = "reject";
            }
            if (outcome != "none" || call.expect.outcome == "none") break;
            std::this_thread::sleep_for(20ms);
        }
    }
    note("host outcome: " + outcome);
    if (call.expect.outcome != "any" && outcome != call.expect.outcome)
        fail("expected the host to " + call.expect.outcome + " the call, it did: " + outcome);

    // 3. The sideband session and the script.
    if (outcome == "accept") {
        const auto wantsSession = call.script && call.script->connect == ConnectBehaviour::Accept;
        auto session = simulator_.waitForSession(event.callId, wantsSession ? 10000ms : 1500ms);
        if (!session) {
            if (wantsSession) fail("the host never opened the sideband WebSocket");
        } else {
            if (!session->waitForScript(call.timeout)) fail("script did not finish within the call timeout");
            if (session->isConnected() && !session->waitForClose(call.lingerMs)) {
                note("script done; the simulated caller hangs up");
                session->hangup(CloseMode::CloseFrame);
                session->waitForClose(3000ms);
            }
            for (const auto& failure : session->failures())
                failures.push_back(failure);
            bool sawUpdate = false;
            for (const auto& received : session->receivedEvents()) {
                if (received.type != "session.update") continue;
                sawUpdate = true;
            }
            for (const auto& needle : call.expect.sessionUpdateContains) {
                bool found = false;
                for (const auto& received : session->receivedEvents())
                    if (received.type == "session.update" && contains(received.json, needle)) found = true;
                if (!found) fail("no session.update contains " + needle);
            }
            if (!sawUpdate) note("note: the host sent no session.update");
        }
    }

    // 4. Optional ended webhook; then a moment for late REST calls (a tool's hangup racing the close).
    if (call.sendEndedWebhook) {
        const auto ended = makeCallEvent("realtime.call.ended", event.callId);
        const auto answer = sender_.deliver(ended);
        note("webhook realtime.call.ended " + ended.eventId + " answer " +
             (answer.error.empty() ? std::to_string(answer.status) + " " + answer.body : answer.error));
    }
    std::this_thread::sleep_for(200ms);

    // 5. REST expectations.
    const auto rest = simulator_.restRequests(event.callId);
    auto called = [&](const std::string& action) {
        for (const auto& request : rest)
            if (request.action == action) return true;
        return false;
    };
    for (const auto& action : call.expect.restCalls)
        if (!called(action)) fail("expected a REST " + action + " call, none came");
    for (const auto& action : call.expect.noRestCalls)
        if (called(action)) fail("unexpected REST " + action + " call");
    for (const auto& request : rest) {
        if (request.action == "accept") {
            if (!call.expect.allowAcceptWarnings)
                for (const auto& warning : request.warnings)
                    fail(warning);
            for (const auto& needle : call.expect.acceptBodyContains)
                if (!contains(request.body, needle)) fail("accept body lacks " + needle);
        }
        if (request.action == "reject" && call.expect.rejectStatusCode != 0) {
            const auto body = json::parse(request.body);
            int statusCode = 603; // the API's default when the body names none (reference §2)
            if (body.type() == typeid(Poco::JSON::Object::Ptr))
                statusCode = body.extract<Poco::JSON::Object::Ptr>()->optValue<int>("status_code", 603);
            if (statusCode != call.expect.rejectStatusCode)
                fail("reject status_code " + std::to_string(statusCode) + ", expected " +
                     std::to_string(call.expect.rejectStatusCode));
        }
    }

    result.failures = failures;
    result.passed = failures.empty();
    note(result.passed ? "PASS" : "FAIL (" + std::to_string(failures.size()) + " problem(s))");
    {
        std::lock_guard<std::mutex> lock(mutex_);
        result.trace = lines_;
        currentCallId_.clear();
    }
    return result;
}

ScenarioReport ScenarioRunner::run(const Scenario& scenario) {
    ScenarioReport report;
    for (const auto& call : scenario.calls)
        report.calls.push_back(runCall(call));
    return report;
}

} // namespace sideband::simulator
