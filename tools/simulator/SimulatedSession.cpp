#include "SimulatedSession.h"

#include "ServerFrame.h"
#include "SessionReactor.h"
#include "core/Json.h"

#include <Poco/Buffer.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/NetException.h>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>

namespace sideband::simulator {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;
using Clock = std::chrono::steady_clock;
using Poco::Net::WebSocket;

constexpr std::size_t kMaxRecorded = 200000; // per session; a bound for week-long soak runs
constexpr auto kCloseHandshakeTimeout = std::chrono::seconds(2);
// How often a black-holed session looks (without reading) whether the host closed the connection.
constexpr auto kBlackHoleWatchInterval = std::chrono::milliseconds(100);
// A function-call response whose outputs came less than this long before the call ended (or the
// next response began) is not dead air yet: its response.create may still be on its way.
constexpr auto kDeadAirGrace = std::chrono::milliseconds(500);

std::string shorten(const std::string& text, std::size_t max = 400) {
    if (text.size() <= max) return text;
    return text.substr(0, max) + "...(" + std::to_string(text.size()) + " bytes)";
}

std::string milliseconds(std::chrono::microseconds duration) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", static_cast<double>(duration.count()) / 1000.0);
    return text;
}

std::string stringField(const Object::Ptr& object, const std::string& key) {
    if (!object || !object->has(key)) return {};
    const auto value = object->get(key);
    return value.isString() ? value.extract<std::string>() : value.toString();
}

} // namespace

SimulatedSession::SimulatedSession(std::string callId, Poco::Net::WebSocket socket, Poco::Net::StreamSocket transport,
                                   std::shared_ptr<const CallScript> script, SessionReactor& reactor,
                                   SessionObserver* observer, bool recordTraffic, NetworkBehaviour network)
    : callId_(std::move(callId)), socket_(std::move(socket)), transport_(std::move(transport)),
      script_(std::move(script)), reactor_(reactor), observer_(observer), record_(recordTraffic), network_(network) {
    stats_.splitFrames = network_.splitFrames;
    session_ = json::object();
    session_->set("type", "realtime");
    session_->set("object", "realtime.session");
    session_->set("id", "sess_" + callId_);
    session_->set("model", "gpt-realtime");
    Array::Ptr modalities = new Array;
    modalities->add("audio");
    session_->set("output_modalities", modalities);
    session_->set("instructions", "");
    session_->set("tools", Array::Ptr(new Array));
    session_->set("tool_choice", "auto");
    session_->set("max_output_tokens", "inf");
}

SimulatedSession::~SimulatedSession() {
    try {
        socket_.close();
    } catch (...) {
    }
}

std::string SimulatedSession::nextId(const char* prefix) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%s_%s%04llx", prefix,
                  callId_.size() > 8 ? callId_.substr(callId_.size() - 8).c_str() : callId_.c_str(),
                  static_cast<unsigned long long>(++idCounter_));
    return buffer;
}

// --- sending ---------------------------------------------------------------------------------------

std::optional<SteadyTime> SimulatedSession::sendTextLocked(const std::string& text) {
    if (!connected_ || closing_) throw Poco::Net::NetException("sideband socket is closed");
    if (blackHoled_) {
        ++stats_.swallowedEvents;
        traceLocked("-x (black hole, not sent) " + shorten(text, 120));
        return std::nullopt;
    }
    const auto at = Clock::now();
    writeFrameLocked(WebSocket::FRAME_OP_TEXT, text);
    if (record_ && sent_.size() < kMaxRecorded) sent_.push_back(text);
    return at;
}

// Every frame to the host goes through here, so a frame written whole never lands between the
// bytes of a split one. Throws Poco::Exception when a whole-frame write fails.
void SimulatedSession::writeFrameLocked(int opcode, const std::string& payload) {
    if (!network_.splitFrames) {
        std::lock_guard<std::mutex> io(ioMutex_);
        socket_.sendFrame(payload.data(), static_cast<int>(payload.size()), WebSocket::FRAME_FLAG_FIN | opcode);
        return;
    }
    SteadyTime firstWriteAt;
    {
        std::lock_guard<std::mutex> io(ioMutex_);
        splitOutbox_ += encodeServerFrame(opcode, payload);
        if (splitWriteScheduled_) return; // the pending callback goes on into this frame
        splitWriteScheduled_ = true;
        firstWriteAt = std::max(Clock::now(), nextSplitWriteAt_);
    }
    reactor_.scheduleSplitWrite(firstWriteAt, weak_from_this());
}

void SimulatedSession::onSplitWriteDue(std::uint64_t) {
    SteadyTime nextAt;
    {
        // Never wait for this session's reader (it may sit up to 2 s on a half-arrived frame): the
        // one split-write thread paces every session, so try again shortly instead.
        std::unique_lock<std::mutex> io(ioMutex_, std::try_to_lock);
        if (!io.owns_lock()) {
            reactor_.scheduleSplitWrite(Clock::now() + std::max(network_.splitFrameDelay, std::chrono::milliseconds(1)),
                                        weak_from_this());
            return;
        }
        bool written = false;
        if (!blackHoled_ && splitOffset_ < splitOutbox_.size() && transport_.impl()->initialized()) {
            try {
                written = transport_.sendBytes(&splitOutbox_[splitOffset_], 1) == 1;
            } catch (const Poco::Exception&) {
                // The host is gone; the reactor's next read sees it and ends the session.
            }
        }
        if (written) {
            ++splitOffset_;
            ++splitWrites_;
            nextSplitWriteAt_ = Clock::now() + network_.splitFrameDelay;
        }
        if (!written || splitOffset_ == splitOutbox_.size()) {
            splitOutbox_.clear();
            splitOffset_ = 0;
            splitWriteScheduled_ = false;
            return;
        }
        nextAt = nextSplitWriteAt_;
    }
    reactor_.scheduleSplitWrite(nextAt, weak_from_this());
}

// How long the queued split-frame bytes still take to leave (zero without split frames).
std::chrono::milliseconds SimulatedSession::splitFrameBacklogLocked() {
    std::lock_guard<std::mutex> io(ioMutex_);
    return network_.splitFrameDelay * static_cast<long>(splitOutbox_.size() - splitOffset_);
}

// Before the socket closes: the frames already queued go out at once (still one byte per write),
// so a hang-up never cuts the last events short. A black hole drops them instead.
void SimulatedSession::flushSplitFramesLocked() {
    std::lock_guard<std::mutex> io(ioMutex_);
    try {
        while (!blackHoled_ && splitOffset_ < splitOutbox_.size() && transport_.impl()->initialized() &&
               transport_.sendBytes(&splitOutbox_[splitOffset_], 1) == 1) {
            ++splitOffset_;
            ++splitWrites_;
        }
    } catch (const Poco::Exception&) {
    }
    // A pending split-write callback finds the outbox empty and stops.
    splitOutbox_.clear();
    splitOffset_ = 0;
}

void SimulatedSession::sendEventLocked(Object::Ptr event) {
    if (!event->has("event_id")) event->set("event_id", nextId("event"));
    const auto text = json::stringify(event);
    try {
        if (sendTextLocked(text)) traceLocked("-> " + shorten(text));
    } catch (const Poco::Exception& e) {
        traceLocked("!! send failed (" + e.displayText() + "): " + shorten(text, 120));
        if (connected_ && !closing_) finishLocked("host", "send failed: " + e.displayText());
    }
}

void SimulatedSession::configure(const std::string& sessionJson) {
    const auto parsed = json::parse(sessionJson);
    if (parsed.type() != typeid(Object::Ptr)) return;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [key, value] : *parsed.extract<Object::Ptr>())
        session_->set(key, value);
}

void SimulatedSession::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    traceLocked("sideband connected");
    auto created = json::object();
    created->set("type", "session.created");
    created->set("event_id", nextId("event"));
    created->set("session", session_);
    sendEventLocked(created);
    if (network_.pingInterval.count() > 0) schedulePingLocked();
    advanceLocked();
}

// --- model responses (reference §3, "The turn protocol") -------------------------------------------

void SimulatedSession::countResponseStatusLocked(const std::string& status) {
    if (status == "completed")
        ++turn_.responsesCompleted;
    else if (status == "cancelled")
        ++turn_.responsesCancelled;
    else if (status == "failed")
        ++turn_.responsesFailed;
    else
        ++turn_.responsesIncomplete;
}

std::size_t SimulatedSession::beginResponseLocked(ResponseRecord record) {
    record.createdAt = Clock::now();
    record.status = "in_progress";
    const auto index = responses_.size();
    responses_.push_back(std::move(record));
    active_ = index;
    auto response = json::object();
    response->set("object", "realtime.response");
    response->set("id", responses_[index].id);
    response->set("status", "in_progress");
    response->set("output", Array::Ptr(new Array));
    auto created = json::object();
    created->set("type", "response.created");
    created->set("event_id", nextId("event"));
    created->set("response", response);
    if (connected_ && !closing_) sendEventLocked(created);
    return index;
}

// The model ends a response a little after its last item (responseDoneDelay), on the reactor's timer
// thread; split frames: after the frames queued so far have left.
void SimulatedSession::scheduleResponseDoneLocked() {
    if (!active_) return;
    if (network_.responseDoneDelay.count() <= 0 || !connected_) {
        finishActiveResponseLocked();
        return;
    }
    responseTimerGeneration_ = ++timersScheduled_;
    reactor_.schedule(Clock::now() + splitFrameBacklogLocked() + network_.responseDoneDelay, weak_from_this(),
                      responseTimerGeneration_);
}

Object::Ptr SimulatedSession::functionCallItemLocked(const FunctionCallRecord& call) const {
    auto item = json::object();
    item->set("id", call.itemId);
    item->set("object", "realtime.item");
    item->set("type", "function_call");
    item->set("status", "completed");
    item->set("name", call.name);
    item->set("call_id", call.callId);
    item->set("arguments", call.arguments);
    return item;
}

std::size_t SimulatedSession::startFunctionCallResponseLocked(const std::vector<FunctionCallSpec>& specs,
                                                              ResponseRecord response) {
    if (active_) finishActiveResponseLocked(); // the model ends one response before it starts the next
    settleToolResponseLocked(false);
    response.id = nextId("resp");
    std::vector<FunctionCallRecord> records;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        FunctionCallRecord record;
        record.callId = specs[i].callId.empty() ? nextId("call") : specs[i].callId;
        record.name = specs[i].name;
        record.arguments = specs[i].argumentsJson;
        record.responseId = response.id;
        record.itemId = nextId("item");
        record.outputIndex = static_cast<int>(i);
        response.callIds.push_back(record.callId);
        records.push_back(std::move(record));
    }
    const auto index = beginResponseLocked(std::move(response));
    toolResponse_ = index;
    lastCallIds_ = responses_[index].callIds;
    if (!records.empty()) lastCallId_ = records.back().callId;

    // Each call appears in response.function_call_arguments.done, response.output_item.done and,
    // later, response.done (reference §3); hosts must run it once, and only once the response completed.
    for (auto& record : records) {
        auto argumentsDone = json::object();
        argumentsDone->set("type", "response.function_call_arguments.done");
        argumentsDone->set("event_id", nextId("event"));
        argumentsDone->set("response_id", record.responseId);
        argumentsDone->set("item_id", record.itemId);
        argumentsDone->set("output_index", record.outputIndex);
        argumentsDone->set("call_id", record.callId);
        argumentsDone->set("name", record.name);
        argumentsDone->set("arguments", record.arguments);
        auto itemDone = json::object();
        itemDone->set("type", "response.output_item.done");
        itemDone->set("event_id", nextId("event"));
        itemDone->set("response_id", record.responseId);
        itemDone->set("output_index", record.outputIndex);
        itemDone->set("item", functionCallItemLocked(record));

        record.sentAt = Clock::now();
        callIndex_[record.callId] = calls_.size();
        calls_.push_back(record);
        if (!connected_ || closing_) {
            traceLocked("!! function call " + record.name + " not sent: the sideband socket is closed");
            continue;
        }
        bool first = true;
        for (const auto& text : {json::stringify(argumentsDone), json::stringify(itemDone)}) {
            try {
                const auto at = sendTextLocked(text);
                if (first && at) calls_.back().sentAt = *at; // the host may act on the first of them
                first = false;
            } catch (const Poco::Exception& e) {
                traceLocked("!! function call " + record.name + " not sent: " + e.displayText());
                if (connected_ && !closing_) finishLocked("host", "send failed: " + e.displayText());
                break;
            }
        }
        if (connected_ && !blackHoled_)
            traceLocked("-> function call " + record.name + " (" + record.callId + ", " + record.responseId +
                        ") arguments " + shorten(record.arguments));
    }
    if (!calls_.empty() && !records.empty())
        responses_[index].firstCallSentAt = calls_[calls_.size() - records.size()].sentAt;
    if (active_ && *active_ == index) scheduleResponseDoneLocked();
    return index;
}

std::size_t SimulatedSession::startSpokenResponseLocked() {
    ResponseRecord response;
    response.id = nextId("resp");
    response.kind = ResponseRecord::Kind::Spoken;
    response.awaitOutput = false;
    response.transcript = network_.spokenReply;
    response.itemId = nextId("item");
    const auto index = beginResponseLocked(response);
    if (!response.transcript.empty() && connected_ && !closing_) {
        auto event = json::object();
        event->set("type", "response.output_audio_transcript.done");
        event->set("event_id", nextId("event"));
        event->set("response_id", response.id);
        event->set("item_id", response.itemId);
        event->set("output_index", 0);
        event->set("content_index", 0);
        event->set("transcript", response.transcript);
        sendEventLocked(event);
    }
    if (active_ && *active_ == index) scheduleResponseDoneLocked();
    return index;
}

void SimulatedSession::finishActiveResponseLocked(const std::string& wantedStatus, const std::string& wantedReason) {
    if (!active_) return;
    const auto index = *active_;
    active_.reset();
    responseTimerGeneration_ = 0; // a pending response.done timer finds nothing to do
    if (!connected_ || closing_) {
        changed_.notify_all(); // the call is ending: the response stays unfinished (in_progress)
        return;
    }
    auto& response = responses_[index];
    const bool bargeIn = response.kind == ResponseRecord::Kind::BargeIn;
    response.status = !wantedStatus.empty() ? wantedStatus : bargeIn ? "cancelled" : "completed";
    response.reason = !wantedStatus.empty() ? wantedReason : bargeIn ? "turn_detected" : "";
    response.doneAt = Clock::now();
    countResponseStatusLocked(response.status);

    Array::Ptr output = new Array;
    if (response.kind == ResponseRecord::Kind::Spoken) {
        auto content = json::object();
        content->set("type", "output_audio");
        content->set("transcript", response.transcript);
        Array::Ptr contents = new Array;
        contents->add(content);
        auto item = json::object();
        item->set("id", response.itemId);
        item->set("object", "realtime.item");
        item->set("type", "message");
        item->set("role", "assistant");
        item->set("status", response.status == "completed" ? "completed" : "incomplete");
        item->set("content", contents);
        output->add(item);
    } else {
        for (const auto& callId : response.callIds) {
            const auto it = callIndex_.find(callId);
            if (it != callIndex_.end()) output->add(functionCallItemLocked(calls_[it->second]));
        }
    }
    auto body = json::object();
    body->set("object", "realtime.response");
    body->set("id", response.id);
    body->set("status", response.status);
    if (response.status == "completed") {
        body->set("status_details", Poco::Dynamic::Var());
    } else {
        auto details = json::object();
        details->set("type", response.status);
        if (!response.reason.empty()) details->set("reason", response.reason);
        body->set("status_details", details);
    }
    body->set("output", output);
    auto usage = json::object();
    usage->set("total_tokens", 120);
    usage->set("input_tokens", 100);
    usage->set("output_tokens", 20);
    body->set("usage", usage);
    auto done = json::object();
    done->set("type", "response.done");
    done->set("event_id", nextId("event"));
    done->set("response", body);
    if (connected_ && !closing_) sendEventLocked(done);

    if (response.status != "completed" && response.kind != ResponseRecord::Kind::Spoken) {
        // Its function calls were not meant to run: an output for one (even one sent before the
        // cancel, by a host that ran it on arguments.done) is a failure.
        for (const auto& callId : response.callIds) {
            const auto it = callIndex_.find(callId);
            if (it == callIndex_.end()) continue;
            calls_[it->second].cancelled = true;
            if (calls_[it->second].outputReceived) {
                ++turn_.bargeInViolations;
                failLocked("output for a function call of a cancelled response: " + callId + " (" + response.id + ")");
            }
        }
    }
    const auto callerSays = response.callerSays;
    const auto quiet = response.quiet;
    if (bargeIn && !callerSays.empty() && connected_ && !closing_) sendTranscriptLocked("caller", callerSays);
    if ((wait_ == Wait::Output || wait_ == Wait::ResponseCreate) && waitResponse_ == index &&
        response.status != "completed") {
        wait_ = Wait::None; // e.g. the host's response.cancel: these calls will never run
        timerGeneration_ = 0;
    }
    if (wait_ == Wait::ResponseDone && waitResponse_ == index) {
        wait_ = Wait::None;
        if (bargeIn && quiet.count() > 0 && connected_ && !closing_) {
            wait_ = Wait::Timer; // the caller is talking: the script stays quiet too
            scheduleLocked(Clock::now() + quiet);
        }
    }
    changed_.notify_all();
}

bool SimulatedSession::allOutputsInLocked(const ResponseRecord& response) const {
    for (const auto& callId : response.callIds) {
        const auto it = callIndex_.find(callId);
        if (it == callIndex_.end() || !calls_[it->second].outputReceived) return false;
    }
    return true;
}

std::string SimulatedSession::missingOutputsLocked(const ResponseRecord& response) const {
    std::string missing;
    for (const auto& callId : response.callIds) {
        const auto it = callIndex_.find(callId);
        if (it != callIndex_.end() && calls_[it->second].outputReceived) continue;
        missing += (missing.empty() ? "" : ", ") + callId;
    }
    return missing;
}

// Dead air: the latest completed function-call response got every output but no response.create.
// Checked when the next function-call response starts and when the call ends; a grace period after
// the last output (or the response.done) keeps a response.create still on its way from counting.
void SimulatedSession::settleToolResponseLocked(bool callEnding) {
    if (!toolResponse_ || blackHoled_) return;
    auto& response = responses_[*toolResponse_];
    if (response.kind != ResponseRecord::Kind::FunctionCalls || response.status != "completed" ||
        !response.awaitOutput || response.responseCreates > 0 || response.deadAir)
        return;
    if (!allOutputsInLocked(response)) return; // an output never came (or the call ended first): not dead air
    SteadyTime since = response.doneAt;
    for (const auto& callId : response.callIds)
        since = std::max(since, calls_[callIndex_[callId]].outputAt);
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since);
    if (waited < kDeadAirGrace) {
        traceLocked(std::string(callEnding ? "call ended" : "next response") + " " + milliseconds(waited) +
                    " ms after the outputs of " + response.id + ", before its response.create");
        return;
    }
    response.deadAir = true;
    ++turn_.deadAir;
    failLocked("dead air after " + response.id + ": no response.create after its outputs");
    if (observer_) observer_->onDeadAir();
}

void SimulatedSession::handleResponseCreateLocked(const Object::Ptr& event, SteadyTime at) {
    ResponseCreateRecord record;
    record.at = at;
    const auto request = event->has("response") ? event->getObject("response") : Object::Ptr();
    if (request && request->has("instructions") && !request->isNull("instructions"))
        record.instructions = stringField(request, "instructions");
    record.sessionInstructions = stringField(session_, "instructions");
    if (active_) {
        // One response at a time: the real API drops this request and says so.
        const auto activeId = responses_[*active_].id;
        record.refused = true;
        record.activeResponseId = activeId;
        if (creates_.size() < kMaxRecorded) creates_.push_back(record);
        ++turn_.responseCreatesRefused;
        traceLocked("refused response.create: " + activeId + " is still in progress");
        sendErrorLocked("conversation_already_has_active_response",
                        "Conversation already has an active response in progress: " + activeId +
                            ". Wait until the response is finished before creating a new one.",
                        "invalid_request_error");
        return;
    }
    ++turn_.responseCreatesAccepted;
    if (toolResponse_) {
        const auto toolIndex = *toolResponse_;
        auto& response = responses_[toolIndex];
        if (response.kind == ResponseRecord::Kind::BargeIn) {
            if (response.status != "in_progress" && at < response.doneAt + response.quiet) {
                ++turn_.bargeInViolations;
                failLocked("response.create after a cancelled response talks over the caller (" + response.id + ")");
            }
        } else if (response.status == "completed") {
            if (!allOutputsInLocked(response)) {
                // Some outputs came, not all: the model would answer without the rest. (None yet: a
                // response.create of its own, e.g. a late greeting, not one for these calls.)
                bool someIn = false;
                for (const auto& callId : response.callIds)
                    someIn = someIn || calls_[callIndex_[callId]].outputReceived;
                if (response.awaitOutput && someIn)
                    failLocked("response.create after " + response.id + " before all its outputs (missing " +
                               missingOutputsLocked(response) + ")");
            } else if (++response.responseCreates == 1) {
                response.resumedAfter =
                    std::chrono::duration_cast<std::chrono::microseconds>(at - response.firstCallSentAt);
                for (const auto& callId : response.callIds)
                    calls_[callIndex_[callId]].responseCreateFollowed = true;
                traceLocked("<- response.create after the outputs of " + response.id + ": the caller hears the model " +
                            milliseconds(response.resumedAfter) + " ms after its function call");
                if (observer_) observer_->onResumed(response.resumedAfter);
                if (wait_ == Wait::ResponseCreate && waitResponse_ == toolIndex) wait_ = Wait::None;
            } else {
                ++turn_.extraResponseCreates;
                failLocked(std::string(response.responseCreates == 2 ? "two" : "another") + " response.create after " +
                           response.id);
            }
        }
    }
    record.responseId = responses_[startSpokenResponseLocked()].id;
    if (creates_.size() < kMaxRecorded) creates_.push_back(record);
}

void SimulatedSession::handleResponseCancelLocked() {
    if (!active_) {
        sendErrorLocked("response_cancel_not_active", "Cancellation failed: no active response found",
                        "invalid_request_error");
        return;
    }
    finishActiveResponseLocked("cancelled", "client_cancelled");
}

std::string SimulatedSession::sendFunctionCall(const std::string& name, const std::string& argumentsJson,
                                               const std::string& callId) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto index = startFunctionCallResponseLocked({FunctionCallSpec{name, argumentsJson, callId}}, {});
    const auto id = responses_[index].callIds.front();
    advanceLocked(); // a script waiting for the response it finished goes on
    return id;
}

std::vector<std::string> SimulatedSession::sendFunctionCalls(const std::vector<FunctionCallSpec>& calls) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto index = startFunctionCallResponseLocked(calls, {});
    const auto ids = responses_[index].callIds;
    advanceLocked();
    return ids;
}

std::string SimulatedSession::sendBargeIn(const std::string& name, const std::string& argumentsJson,
                                          const std::string& callId, std::chrono::milliseconds quiet,
                                          const std::string& callerSays) {
    std::lock_guard<std::mutex> lock(mutex_);
    ResponseRecord response;
    response.kind = ResponseRecord::Kind::BargeIn;
    response.awaitOutput = false;
    response.quiet = quiet;
    response.callerSays = callerSays;
    const auto index = startFunctionCallResponseLocked({FunctionCallSpec{name, argumentsJson, callId}}, response);
    const auto id = responses_[index].callIds.front();
    advanceLocked();
    return id;
}

void SimulatedSession::sendTranscript(const std::string& speaker, const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    sendTranscriptLocked(speaker, text);
}

void SimulatedSession::sendTranscriptLocked(const std::string& speaker, const std::string& text) {
    auto event = json::object();
    if (speaker == "agent") {
        event->set("type", "response.output_audio_transcript.done");
        event->set("event_id", nextId("event"));
        event->set("response_id", nextId("resp"));
        event->set("item_id", nextId("item"));
        event->set("output_index", 0);
        event->set("content_index", 0);
    } else {
        event->set("type", "conversation.item.input_audio_transcription.completed");
        event->set("event_id", nextId("event"));
        event->set("item_id", nextId("item"));
        event->set("content_index", 0);
    }
    event->set("transcript", text);
    sendEventLocked(event);
}

void SimulatedSession::sendError(const std::string& code, const std::string& message, const std::string& type) {
    std::lock_guard<std::mutex> lock(mutex_);
    sendErrorLocked(code, message, type);
}

void SimulatedSession::sendErrorLocked(const std::string& code, const std::string& message, const std::string& type) {
    auto error = json::object();
    error->set("type", type);
    error->set("code", code);
    error->set("message", message);
    error->set("param", Poco::Dynamic::Var());
    error->set("event_id", Poco::Dynamic::Var());
    auto event = json::object();
    event->set("type", "error");
    event->set("event_id", nextId("event"));
    event->set("error", error);
    sendEventLocked(event);
}

void SimulatedSession::sendRaw(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    sendRawLocked(text);
}

void SimulatedSession::sendRawLocked(const std::string& text) {
    try {
        if (sendTextLocked(text)) traceLocked("-> " + shorten(text));
    } catch (const Poco::Exception& e) {
        traceLocked("!! send failed: " + e.displayText());
        if (connected_ && !closing_) finishLocked("host", "send failed: " + e.displayText());
    }
}

// --- closing ---------------------------------------------------------------------------------------

void SimulatedSession::hangup(CloseMode mode) {
    std::lock_guard<std::mutex> lock(mutex_);
    hangupLocked(mode, "simulator", "caller hung up");
}

void SimulatedSession::closeFromRest(CloseMode mode, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    hangupLocked(mode, "rest", reason);
}

void SimulatedSession::hangupLocked(CloseMode mode, const std::string& initiator, const std::string& reason) {
    if (!connected_ || closing_) return;
    if (blackHoled_) {
        traceLocked("caller side would end the call (" + reason + "), but the connection is black-holed");
        return;
    }
    traceLocked("caller side ends the call: " + std::string(describe(mode)) + " (" + reason + ")");
    if (mode == CloseMode::CloseFrame) {
        try {
            writeFrameLocked(WebSocket::FRAME_OP_CLOSE, closeFramePayload(WebSocket::WS_NORMAL_CLOSE, "call ended"));
            close_.closeFrameSent = true;
        } catch (const Poco::Exception& e) {
            traceLocked("!! close frame not sent: " + e.displayText());
            finishLocked(initiator, reason);
            return;
        }
        // RFC 6455 §5.5.1: wait for the peer's CLOSE before dropping TCP, but not forever.
        closing_ = true;
        close_.initiator = initiator;
        close_.reason = reason;
        // Split frames: the close frame itself may still be on its way out.
        scheduleLocked(Clock::now() + kCloseHandshakeTimeout + splitFrameBacklogLocked());
        return;
    }
    flushSplitFramesLocked();
    {
        std::lock_guard<std::mutex> io(ioMutex_);
        try {
            if (mode == CloseMode::Reset) {
                socket_.setLinger(true, 0);
            } else {
                // A raw shutdown(2): FIN without a WebSocket close frame and without TLS close_notify,
                // which is how a dropped call reaches the host.
                ::shutdown(socket_.impl()->sockfd(), SHUT_RDWR);
            }
        } catch (const Poco::Exception&) {
        }
    }
    finishLocked(initiator, reason);
}

void SimulatedSession::finishLocked(const std::string& initiator, const std::string& reason) {
    if (!connected_) return;
    connected_ = false;
    closing_ = false;
    close_.closed = true;
    if (close_.initiator.empty()) close_.initiator = initiator;
    if (close_.reason.empty()) close_.reason = reason;
    reactor_.remove(*this);
    flushSplitFramesLocked();
    {
        std::lock_guard<std::mutex> io(ioMutex_);
        try {
            socket_.close();
        } catch (const Poco::Exception&) {
        }
    }
    if (wait_ == Wait::Output && waitResponse_ < responses_.size())
        failLocked("socket closed while waiting for the output of " + missingOutputsLocked(responses_[waitResponse_]));
    if (active_) {
        active_.reset(); // never finished: the socket closed first
        responseTimerGeneration_ = 0;
    }
    settleToolResponseLocked(true);
    wait_ = Wait::None;
    scriptDone_ = true;
    traceLocked("sideband closed by " + close_.initiator + ": " + close_.reason +
                (close_.closeFrameReceived ? " (host sent a close frame)" : ""));
    changed_.notify_all();
}

void SimulatedSession::detach() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (connected_) {
        closing_ = false;
        try {
            if (!blackHoled_)
                writeFrameLocked(WebSocket::FRAME_OP_CLOSE,
                                 closeFramePayload(WebSocket::WS_ENDPOINT_GOING_AWAY, "simulator stopping"));
        } catch (const Poco::Exception&) {
        }
        finishLocked("simulator", "simulator stopped");
    }
    observer_ = nullptr;
}

// --- receiving -------------------------------------------------------------------------------------

void SimulatedSession::onReadable() {
    std::lock_guard<std::mutex> reading(readMutex_);
    for (;;) {
        if (blackHoled_) {
            // What the host sends now stays unread, as if lost on the way. A black hole that came
            // before the upgrade's thread handed the socket to the reactor must not be polled.
            reactor_.remove(*this);
            return;
        }
        Poco::Buffer<char> buffer(0);
        int flags = 0;
        int n = 0;
        SteadyTime at;
        std::string error;
        {
            std::lock_guard<std::mutex> io(ioMutex_);
            if (!socket_.impl()->initialized()) return;
            try {
                // Guard against a stale readiness report: read only what is really there, so the
                // reactor never blocks on one connection.
                if (socket_.available() <= 0 && !socket_.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ))
                    return;
                n = socket_.receiveFrame(buffer, flags);
                at = Clock::now();
            } catch (const Poco::TimeoutException&) {
                return;
            } catch (const Poco::Exception& e) {
                error = e.displayText();
            }
        }
        std::lock_guard<std::mutex> lock(mutex_);
        if (!connected_ || blackHoled_) return; // a frame read just as the black hole began is lost too
        if (!error.empty()) {
            finishLocked("host", "connection lost without a close frame (" + error + ")");
            return;
        }
        const int opcode = flags & Poco::Net::WebSocket::FRAME_OP_BITMASK;
        if (n == 0 && flags == 0) {
            finishLocked("host", "host closed TCP without a close frame");
            return;
        }
        const std::string payload(buffer.begin(), buffer.size());
        if (opcode == WebSocket::FRAME_OP_CLOSE) {
            close_.closeFrameReceived = true;
            if (!closing_) {
                // Poco does not answer CLOSE by itself (debian-stack-notes): echo it, then drop TCP.
                try {
                    writeFrameLocked(WebSocket::FRAME_OP_CLOSE, payload);
                    close_.closeFrameSent = true;
                } catch (const Poco::Exception&) {
                }
            }
            finishLocked("host", closing_ ? close_.reason : "host sent a close frame");
            return;
        }
        if (opcode == WebSocket::FRAME_OP_PING) {
            // Poco does not answer PING by itself either; the PONG carries the same payload (RFC 6455 §5.5.3).
            ++stats_.pingsReceived;
            traceLocked("<- ping " + shorten(payload, 60));
            try {
                writeFrameLocked(WebSocket::FRAME_OP_PONG, payload);
            } catch (const Poco::Exception& e) {
                traceLocked("!! pong not sent: " + e.displayText());
            }
        } else if (opcode == WebSocket::FRAME_OP_PONG) {
            ++stats_.pongsReceived;
            traceLocked("<- pong " + shorten(payload, 60));
        } else if (opcode == Poco::Net::WebSocket::FRAME_OP_TEXT || opcode == Poco::Net::WebSocket::FRAME_OP_CONT ||
                   opcode == Poco::Net::WebSocket::FRAME_OP_BINARY) {
            fragment_.append(buffer.begin(), buffer.size());
            if (flags & Poco::Net::WebSocket::FRAME_FLAG_FIN) {
                std::string text;
                text.swap(fragment_);
                handleEvent(text, at);
            }
        }
        std::lock_guard<std::mutex> io(ioMutex_);
        try {
            if (!socket_.impl()->initialized() || socket_.available() <= 0) return;
        } catch (const Poco::Exception&) {
            return;
        }
    }
}

void SimulatedSession::handleEvent(const std::string& text, SteadyTime at) {
    Object::Ptr event;
    try {
        Poco::JSON::Parser parser;
        const auto parsed = parser.parse(text);
        if (parsed.type() == typeid(Object::Ptr)) event = parsed.extract<Object::Ptr>();
    } catch (const Poco::Exception&) {
    }
    const auto type = event ? stringField(event, "type") : std::string();
    if (received_.size() < kMaxRecorded) received_.push_back(ReceivedEvent{type, record_ ? text : std::string(), at});
    if (!event || type.empty()) {
        traceLocked("<- (not a JSON event) " + shorten(text));
        failLocked("host sent a frame that is not a JSON event: " + shorten(text, 80));
        changed_.notify_all();
        return;
    }

    if (type == "conversation.item.create") {
        const auto item = event->getObject("item");
        if (item && stringField(item, "type") == "function_call_output")
            handleOutputLocked(item, at);
        else
            traceLocked("<- " + shorten(text));
    } else if (type == "response.create") {
        traceLocked("<- " + shorten(text));
        handleResponseCreateLocked(event, at);
    } else if (type == "response.cancel") {
        traceLocked("<- " + shorten(text));
        handleResponseCancelLocked();
    } else if (type == "session.update") {
        traceLocked("<- " + shorten(text, 1000));
        const auto update = event->getObject("session");
        if (update)
            for (const auto& [key, value] : *update)
                session_->set(key, value);
        auto updated = json::object();
        updated->set("type", "session.updated");
        updated->set("event_id", nextId("event"));
        updated->set("session", session_);
        sendEventLocked(updated);
    } else {
        traceLocked("<- " + shorten(text));
    }
    changed_.notify_all();
    advanceLocked();
}

void SimulatedSession::handleOutputLocked(const Object::Ptr& item, SteadyTime at) {
    const auto callId = stringField(item, "call_id");
    const auto output = stringField(item, "output");
    const auto it = callIndex_.find(callId);
    if (it == callIndex_.end()) {
        traceLocked("<- function_call_output for unknown call_id " + callId);
        failLocked("function_call_output for a call_id the model never sent: " + callId);
        return;
    }
    auto& record = calls_[it->second];
    if (record.outputReceived) failLocked("second function_call_output for " + callId);
    record.outputReceived = true;
    record.output = output;
    record.outputAt = at;
    record.roundTrip = std::chrono::duration_cast<std::chrono::microseconds>(at - record.sentAt);
    traceLocked("<- output of " + record.name + " (" + callId + ") after " + milliseconds(record.roundTrip) +
                " ms: " + shorten(output));
    if (record.cancelled) {
        ++turn_.bargeInViolations;
        failLocked("output for a function call of a cancelled response: " + callId + " (" + record.responseId + ")");
    }
    if (observer_) observer_->onRoundTrip(record.roundTrip);
    if (wait_ == Wait::Output && waitResponse_ < responses_.size() &&
        responses_[waitResponse_].id == record.responseId && allOutputsInLocked(responses_[waitResponse_]))
        wait_ = Wait::ResponseCreate;
}

void SimulatedSession::onRestRequest(const std::string& action, const std::string& body) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (wait_ == Wait::Rest && action == waitAction_ &&
        (waitNeedle_.empty() || body.find(waitNeedle_) != std::string::npos)) {
        wait_ = Wait::None;
        advanceLocked();
    }
}

// --- the script ------------------------------------------------------------------------------------

void SimulatedSession::scheduleLocked(SteadyTime at) {
    timerGeneration_ = ++timersScheduled_;
    reactor_.schedule(at, weak_from_this(), timerGeneration_);
}

void SimulatedSession::onTimer(std::uint64_t generation) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!connected_) return;
    if (generation == pingTimerGeneration_) {
        pingLocked();
        return;
    }
    if (generation == responseTimerGeneration_) {
        finishActiveResponseLocked();
        advanceLocked();
        return;
    }
    if (generation != timerGeneration_) return;
    if (blackHoled_) {
        if (hostClosedBlackHoleLocked())
            finishLocked("host", "host closed the black-holed connection");
        else
            scheduleLocked(Clock::now() + kBlackHoleWatchInterval);
        return;
    }
    if (closing_) {
        finishLocked(close_.initiator, close_.reason + "; the host did not answer the close frame within 2 s");
        return;
    }
    switch (wait_) {
    case Wait::Output: {
        const auto& response = responses_[waitResponse_];
        failLocked("no function_call_output for " + missingOutputsLocked(response) + " within the timeout");
        if (observer_)
            for (const auto& callId : response.callIds)
                if (!calls_[callIndex_[callId]].outputReceived) observer_->onOutputTimeout();
        break;
    }
    case Wait::ResponseCreate: {
        auto& response = responses_[waitResponse_];
        if (response.status == "completed" && !response.deadAir && response.responseCreates == 0) {
            response.deadAir = true;
            ++turn_.deadAir;
            failLocked("dead air after " + response.id + ": no response.create after its outputs");
            if (observer_) observer_->onDeadAir();
        } else if (response.status == "in_progress") {
            failLocked(response.id + " still in progress at the step's timeout");
        }
        break;
    }
    case Wait::Rest:
        failLocked("the host made no REST " + waitAction_ + " call within the timeout");
        break;
    default:
        break;
    }
    wait_ = Wait::None;
    advanceLocked();
}

void SimulatedSession::advanceLocked() {
    if (!script_) {
        scriptDone_ = true;
        return;
    }
    while (connected_ && !closing_ && !scriptDone_ && wait_ == Wait::None) {
        if (pc_ >= script_->steps.size()) {
            scriptDone_ = true;
            traceLocked("script finished");
            changed_.notify_all();
            return;
        }
        const Step& step = script_->steps[pc_++];
        switch (step.kind) {
        case Step::Kind::Say:
            if (step.speaker == "agent" && active_) {
                // The model says one thing at a time: after the response in progress.
                --pc_;
                wait_ = Wait::ResponseDone;
                waitResponse_ = *active_;
                timerGeneration_ = 0;
                break;
            }
            sendTranscriptLocked(step.speaker, step.text);
            break;
        case Step::Kind::FunctionCall:
        case Step::Kind::FunctionCalls:
        case Step::Kind::BargeIn: {
            if (active_) {
                // The model starts no response while one is in progress: this step waits for its end.
                --pc_;
                wait_ = Wait::ResponseDone;
                waitResponse_ = *active_;
                timerGeneration_ = 0; // an earlier step's timeout must not end this wait
                break;
            }
            ResponseRecord response;
            if (step.kind == Step::Kind::BargeIn) {
                response.kind = ResponseRecord::Kind::BargeIn;
                response.awaitOutput = false;
                response.quiet = step.quiet;
                response.callerSays = step.text;
            } else {
                response.awaitOutput = step.awaitOutput;
            }
            const auto calls = step.kind == Step::Kind::FunctionCalls
                                   ? step.calls
                                   : std::vector<FunctionCallSpec>{{step.name, step.argumentsJson, step.callId}};
            const auto index = startFunctionCallResponseLocked(calls, response);
            if (!connected_ || closing_) break;
            if (step.kind == Step::Kind::BargeIn) {
                if (active_ && *active_ == index) {
                    wait_ = Wait::ResponseDone; // then the quiet window (finishActiveResponseLocked)
                    waitResponse_ = index;
                    timerGeneration_ = 0;
                } else if (step.quiet.count() > 0) {
                    wait_ = Wait::Timer;
                    scheduleLocked(Clock::now() + step.quiet);
                }
            } else if (step.awaitOutput) {
                wait_ = Wait::Output;
                waitResponse_ = index;
                waitCallId_ = responses_[index].callIds.front();
                scheduleLocked(Clock::now() + step.timeout);
            }
            break;
        }
        case Step::Kind::ExpectOutputContains: {
            if (lastCallIds_.empty()) {
                failLocked("expect_output_contains \"" + step.text + "\" but no function call was made");
                break;
            }
            // Parallel calls: one of the previous step's outputs must contain it.
            std::string names;
            std::string outputs;
            bool found = false;
            for (const auto& callId : lastCallIds_) {
                const auto& call = calls_[callIndex_[callId]];
                names += (names.empty() ? "" : ", ") + call.name;
                outputs += (outputs.empty() ? "" : " | ") + call.output;
                found = found || call.output.find(step.text) != std::string::npos;
            }
            if (found)
                traceLocked("ok: output of " + names + " contains \"" + step.text + "\"");
            else
                failLocked("output of " + names + " lacks \"" + step.text + "\": " + shorten(outputs, 200));
            break;
        }
        case Step::Kind::Wait:
            if (step.duration.count() > 0) {
                wait_ = Wait::Timer;
                scheduleLocked(Clock::now() + step.duration);
            }
            break;
        case Step::Kind::Error:
            sendErrorLocked(step.errorCode, step.text, step.errorType);
            break;
        case Step::Kind::Raw:
            sendRawLocked(step.json);
            break;
        case Step::Kind::ExpectRest: {
            auto* observer = observer_;
            if (observer && observer->restSeen(callId_, step.action, step.text)) {
                traceLocked("ok: host made REST " + step.action);
                break;
            }
            wait_ = Wait::Rest;
            waitAction_ = step.action;
            waitNeedle_ = step.text;
            scheduleLocked(Clock::now() + step.timeout);
            break;
        }
        case Step::Kind::Hangup:
            hangupLocked(step.closeMode, "simulator", "scripted caller hang-up");
            scriptDone_ = true;
            changed_.notify_all();
            return;
        case Step::Kind::BlackHole:
            blackHoleLocked("scripted black hole");
            return;
        case Step::Kind::Loop: {
            auto& count = loopCounts_[pc_ - 1];
            if (++count < step.times) {
                pc_ = step.target;
            } else {
                loopCounts_.erase(pc_ - 1);
            }
            break;
        }
        }
    }
}

// --- network behaviours -----------------------------------------------------------------------------

void SimulatedSession::schedulePingLocked() {
    pingTimerGeneration_ = ++timersScheduled_;
    reactor_.schedule(Clock::now() + network_.pingInterval, weak_from_this(), pingTimerGeneration_);
}

void SimulatedSession::pingLocked() {
    if (closing_ || blackHoled_) return; // a black hole asks nothing, and stays silent for good
    const auto payload = "sideband-sim ping " + std::to_string(stats_.pingsSent + 1);
    try {
        writeFrameLocked(WebSocket::FRAME_OP_PING, payload);
    } catch (const Poco::Exception& e) {
        traceLocked("!! ping not sent: " + e.displayText());
        finishLocked("host", "send failed: " + e.displayText());
        return;
    }
    ++stats_.pingsSent;
    traceLocked("-> ping " + payload);
    schedulePingLocked();
}

void SimulatedSession::blackHole() {
    std::lock_guard<std::mutex> lock(mutex_);
    blackHoleLocked("black hole");
}

void SimulatedSession::blackHoleLocked(const std::string& why) {
    if (!connected_ || blackHoled_) return;
    blackHoled_ = true;
    stats_.blackHoled = true;
    closing_ = false; // a close handshake under way can no longer complete
    // Out of the poll loops: the host's frames, pings and even its FIN stay unread in the kernel.
    reactor_.remove(*this);
    wait_ = Wait::None;
    scriptDone_ = true;
    traceLocked(why + ": the simulator stops reading and writing this socket and keeps it open (no FIN, no "
                      "close frame, no pong)");
    scheduleLocked(Clock::now() + kBlackHoleWatchInterval); // also cancels the script's timer
    changed_.notify_all();
}

// Whether the host closed (FIN or reset) the black-holed connection, seen without reading from it.
bool SimulatedSession::hostClosedBlackHoleLocked() {
    std::lock_guard<std::mutex> io(ioMutex_);
    if (!transport_.impl()->initialized()) return true;
    pollfd watch{transport_.impl()->sockfd(), POLLRDHUP, 0};
    return ::poll(&watch, 1, 0) > 0 && (watch.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

NetworkStats SimulatedSession::networkStats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto stats = stats_;
    std::lock_guard<std::mutex> io(ioMutex_);
    stats.splitWrites = splitWrites_;
    return stats;
}

void SimulatedSession::traceLocked(const std::string& text) {
    if (record_ && trace_.size() < kMaxRecorded) trace_.push_back(TraceEntry{Clock::now(), text});
    if (observer_) observer_->onTrace(callId_, text);
}

void SimulatedSession::failLocked(const std::string& message) {
    failures_.push_back(message);
    traceLocked("FAIL: " + message);
}

// --- observers -------------------------------------------------------------------------------------

bool SimulatedSession::isConnected() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connected_;
}

std::vector<ReceivedEvent> SimulatedSession::receivedEvents() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
}

std::vector<std::string> SimulatedSession::sentEvents() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
}

std::optional<ReceivedEvent> SimulatedSession::waitForEvent(const std::string& type, std::chrono::milliseconds timeout,
                                                            std::size_t occurrence) const {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<ReceivedEvent> found;
    changed_.wait_for(lock, timeout, [&] {
        std::size_t seen = 0;
        for (const auto& event : received_)
            if (event.type == type && ++seen == occurrence) {
                found = event;
                return true;
            }
        return !connected_;
    });
    return found;
}

std::optional<std::string> SimulatedSession::waitForFunctionOutput(const std::string& functionCallId,
                                                                   std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<std::string> output;
    changed_.wait_for(lock, timeout, [&] {
        const auto it = callIndex_.find(functionCallId);
        if (it != callIndex_.end() && calls_[it->second].outputReceived) {
            output = calls_[it->second].output;
            return true;
        }
        return !connected_;
    });
    return output;
}

std::vector<FunctionCallRecord> SimulatedSession::functionCalls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
}

std::vector<ResponseRecord> SimulatedSession::responses() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return responses_;
}

std::optional<std::string> SimulatedSession::activeResponseId() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!active_) return std::nullopt;
    return responses_[*active_].id;
}

std::optional<ResponseRecord> SimulatedSession::waitForResponseDone(const std::string& responseId,
                                                                    std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<ResponseRecord> found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& response : responses_)
            if (response.id == responseId && response.status != "in_progress") {
                found = response;
                return true;
            }
        return !connected_;
    });
    return found;
}

std::vector<ResponseCreateRecord> SimulatedSession::responseCreates() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return creates_;
}

TurnStats SimulatedSession::turnStats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return turn_;
}

bool SimulatedSession::waitForClose(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return !connected_; });
}

CloseInfo SimulatedSession::closeInfo() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return close_;
}

bool SimulatedSession::waitForScript(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return scriptDone_ || !connected_; });
}

bool SimulatedSession::scriptFinished() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return scriptDone_;
}

std::vector<std::string> SimulatedSession::failures() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failures_;
}

std::vector<TraceEntry> SimulatedSession::trace() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return trace_;
}

} // namespace sideband::simulator
