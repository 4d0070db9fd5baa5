#include "RealtimeSimulator.h"

#include "SdpAnswer.h"
#include "SessionReactor.h"
#include "WebhookSender.h"
#include "core/Json.h"

#include <Poco/JSON/Object.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/PartHandler.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/WebSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <sstream>
#include <stdexcept>

namespace sideband::simulator {
namespace {

constexpr std::size_t kMaxBody = 1 << 20;

std::string errorBody(const std::string& message, const std::string& type, const std::string& code) {
    auto error = json::object();
    error->set("message", message);
    error->set("type", type);
    error->set("param", Poco::Dynamic::Var());
    error->set("code", code.empty() ? Poco::Dynamic::Var() : Poco::Dynamic::Var(code));
    auto body = json::object();
    body->set("error", error);
    return json::stringify(body);
}

std::string notFoundBody() {
    return errorBody("call_id_not_found", "invalid_request_error", "call_id_not_found");
}

// What the real API answers with this status (failNext without a body of its own).
std::string faultBody(int status) {
    switch (status) {
    case 400:
        return errorBody("Simulated failure 400: the request is invalid", "invalid_request_error", "");
    case 401:
        return errorBody("Incorrect API key provided: sk-****. You can find your API key at "
                         "https://platform.openai.com/account/api-keys.",
                         "invalid_request_error", "invalid_api_key");
    case 403:
        return errorBody("Simulated failure 403: you are not allowed to make this request", "invalid_request_error",
                         "");
    case 404:
        return notFoundBody();
    case 429:
        return errorBody("Simulated failure 429: rate limit reached, please try again later", "requests",
                         "rate_limit_exceeded");
    default:
        break;
    }
    if (status >= 500)
        return errorBody("Simulated failure " + std::to_string(status) + ": the server had an error", "server_error",
                         "");
    return errorBody("Simulated failure " + std::to_string(status), "invalid_request_error", "");
}

// Nearest-rank percentiles: the value at or below which p% of the samples lie.
RoundTripStats percentiles(std::vector<std::chrono::microseconds> sorted, std::size_t timeouts) {
    RoundTripStats stats;
    stats.timeouts = timeouts;
    stats.count = sorted.size();
    if (sorted.empty()) return stats;
    std::sort(sorted.begin(), sorted.end());
    auto rank = [&](double p) {
        auto index = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
        return sorted[std::min(sorted.size() - 1, index == 0 ? 0 : index - 1)];
    };
    stats.p50 = rank(0.50);
    stats.p90 = rank(0.90);
    stats.p99 = rank(0.99);
    stats.max = sorted.back();
    return stats;
}

void answer(Poco::Net::HTTPServerResponse& response, int status, const std::string& body,
            const std::string& contentType = "application/json") {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    if (!body.empty()) response.setContentType(contentType);
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body;
}

// The request came over a TLS connection that resumed an earlier session (no certificate sent).
bool overResumedTls(Poco::Net::HTTPServerRequest& request) {
    return Poco::Net::SecureStreamSocket(static_cast<Poco::Net::HTTPServerRequestImpl&>(request).socket())
        .sessionWasReused();
}

std::string readBody(Poco::Net::HTTPServerRequest& request) {
    std::string body;
    auto& in = request.stream();
    char chunk[8192];
    while (in && body.size() <= kMaxBody) {
        in.read(chunk, sizeof chunk);
        body.append(chunk, static_cast<std::size_t>(in.gcount()));
    }
    return body;
}

// The real API answers 200 to an accept without "type":"realtime" and the call then dies
// (reference §2), so the simulator flags it instead of answering an error the real API never sends.
std::vector<std::string> acceptWarnings(const std::string& body) {
    const auto parsed = json::parse(body);
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) return {"accept body is not a JSON object"};
    const auto object = parsed.extract<Poco::JSON::Object::Ptr>();
    std::vector<std::string> warnings;
    if (!object->has("type") || object->get("type").toString() != "realtime")
        warnings.push_back("accept body lacks \"type\":\"realtime\" (the real API answers 200 and the call dies)");
    if (object->has("audio")) {
        const auto audio = object->getObject("audio");
        if (audio && audio->has("input") && audio->getObject("input") && audio->getObject("input")->has("format"))
            warnings.push_back("accept body sets audio.input.format; SIP negotiates the codec");
    }
    return warnings;
}

// Form parts sent as files (a filename in their Content-Disposition, as `curl -F sdp=@offer.sdp`
// sends them) come here by name; plain fields (what browsers' FormData and Poco's StringPartSource
// send) stay in the HTMLForm.
class FilePartCollector final : public Poco::Net::PartHandler {
public:
    void handlePart(const Poco::Net::MessageHeader& header, std::istream& stream) override {
        std::string disposition;
        Poco::Net::NameValueCollection parameters;
        Poco::Net::MessageHeader::splitParameters(header.get("Content-Disposition", ""), disposition, parameters);
        std::string value;
        Poco::StreamCopier::copyToString(stream, value);
        parts.emplace(parameters.get("name", ""), std::move(value));
    }
    std::map<std::string, std::string> parts;
};

// A create's `session` part must be a realtime session object; the problem, or "".
std::string sessionProblem(const std::string& session) {
    const auto parsed = json::parse(session);
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) return "the session part is not a JSON object";
    const auto object = parsed.extract<Poco::JSON::Object::Ptr>();
    if (!object->has("type") || object->get("type").toString() != "realtime")
        return "the session part lacks \"type\":\"realtime\"";
    return {};
}

Poco::Net::Context::Ptr serverContext(const SimulatorOptions& options) {
    Poco::Net::Context::Params params;
    params.certificateFile = options.tlsCert;
    params.privateKeyFile = options.tlsKey;
    params.verificationMode = Poco::Net::Context::VERIFY_NONE;
    params.cipherList = "HIGH:!aNULL:!MD5:!RC4";
    Poco::Net::Context::Ptr context;
    try {
        context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("simulator: cannot load TLS certificate/key (" + options.tlsCert + ", " +
                                 options.tlsKey + "): " + e.displayText());
    }
    // OpenAI's front end hands out session tickets; clients that resume skip the full handshake.
    context->enableSessionCache(true, "sideband-sim");
    return context;
}

} // namespace

std::string redactAuthorization(const std::string& value) {
    if (value.empty()) return "(none)";
    const auto space = value.find(' ');
    return (space == std::string::npos ? std::string() : value.substr(0, space + 1)) + "<redacted>";
}

class RealtimeSimulator::Handler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(RealtimeSimulator& simulator) : simulator_(simulator) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        try {
            simulator_.handle(request, response);
        } catch (const std::exception& e) {
            spdlog::warn("simulator: request {} {} failed: {}", request.getMethod(), request.getURI(), e.what());
            if (!response.sent()) answer(response, 500, errorBody("simulator error", "server_error", ""));
        }
    }

private:
    RealtimeSimulator& simulator_;
};

class RealtimeSimulator::HandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit HandlerFactory(RealtimeSimulator& simulator) : simulator_(simulator) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new Handler(simulator_);
    }

private:
    RealtimeSimulator& simulator_;
};

RealtimeSimulator::RealtimeSimulator(SimulatorOptions options)
    : options_(std::move(options)), createdScript_(options_.createdCallScript) {}

RealtimeSimulator::~RealtimeSimulator() {
    stop();
}

bool RealtimeSimulator::tls() const {
    return !options_.tlsCert.empty() && !options_.tlsKey.empty();
}

std::string RealtimeSimulator::baseUrl() const {
    return std::string(tls() ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/v1";
}

void RealtimeSimulator::start() {
    if (running_) return;
    // Writing to a socket the host already dropped (abrupt hang-ups, OpenSSL's close_notify after a
    // raw shutdown) must be an EPIPE error, not a process-killing SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    Poco::Net::initializeSSL();
    Poco::Net::SocketAddress address;
    try {
        address = Poco::Net::SocketAddress(options_.listen);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("simulator: invalid listen address '" + options_.listen + "': " + e.displayText());
    }
    Poco::Net::ServerSocket socket;
    try {
        // A deep backlog: the benchmark opens a couple of thousand sideband sockets at once.
        if (tls())
            socket = Poco::Net::SecureServerSocket(address, 1024, serverContext(options_));
        else
            socket = Poco::Net::ServerSocket(address, 1024);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("simulator: cannot listen on " + options_.listen + ": " + e.displayText());
    }
    port_ = socket.address().port();

    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options_.httpThreads);
    params->setMaxQueued(8192);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setTimeout(Poco::Timespan(30, 0));
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = false;
    }
    reactor_ = std::make_unique<SessionReactor>(options_.reactorLoops);
    reactor_->start();
    pool_ = std::make_unique<Poco::ThreadPool>(2, std::max(2, options_.httpThreads), 60);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new HandlerFactory(*this), *pool_, socket, params);
    server_->start();
    running_ = true;
    if (options_.logTraffic) spdlog::info("simulator: serving {} (REST call control + sideband WebSocket)", baseUrl());
}

void RealtimeSimulator::stop() {
    if (!running_.exchange(false)) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all(); // wakes delayed (hanging) REST answers
    // Sessions first: their close frames go out on sockets the server still has open. Stopping the
    // server closes every connection it accepted, the upgraded ones too, from its own thread; a
    // close frame written after that would race with the close (and could reach a reused fd).
    std::vector<std::shared_ptr<SimulatedSession>> sessions;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        sessions = allSessions_;
    }
    for (const auto& session : sessions)
        session->detach();
    server_->stopAll(true);
    reactor_->stop();
    pool_->joinAll();
    server_.reset();
}

void RealtimeSimulator::handle(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    const Poco::URI uri(request.getURI());
    if (uri.getPath() == "/v1/realtime" && Poco::icompare(request.get("Upgrade", ""), "websocket") == 0) {
        handleUpgrade(request, response);
        return;
    }
    handleRest(request, response);
}

bool RealtimeSimulator::authorized(const Poco::Net::HTTPServerRequest& request) const {
    return options_.expectedApiKey.empty() || request.get("Authorization", "") == "Bearer " + options_.expectedApiKey;
}

void RealtimeSimulator::handleRest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    RestRequest record;
    record.receivedAt = std::chrono::system_clock::now();
    record.receivedSteady = std::chrono::steady_clock::now();
    record.method = request.getMethod();
    record.path = Poco::URI(request.getURI()).getPath();
    for (const auto& [name, value] : request)
        record.headers[Poco::toLower(name)] = value;
    record.authorization = request.get("Authorization", "");
    record.idempotencyKey = request.get("Idempotency-Key", "");
    if (tls() && overResumedTls(request)) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++resumedTlsRest_;
    }
    record.body = readBody(request);

    std::vector<std::string> segments;
    Poco::URI(record.path).getPathSegments(segments);
    const bool callsPath =
        segments.size() >= 3 && segments[0] == "v1" && segments[1] == "realtime" && segments[2] == "calls";
    const bool create = callsPath && segments.size() == 3;
    const bool callPath = callsPath && segments.size() == 5;
    if (callPath) {
        record.callId = segments[3];
        record.action = segments[4];
    }
    if (create) record.action = "create";
    if (record.action == "accept") record.warnings = acceptWarnings(record.body);
    const auto createProblem = create && record.method == "POST" ? readCreateForm(request, record) : std::string();

    int status = 200;
    std::string body;
    std::chrono::milliseconds delay{0};
    if (!callPath && !create) {
        status = 404;
        body = errorBody("Invalid URL (" + record.method + " " + record.path + ")", "invalid_request_error", "");
    } else if (record.method != "POST") {
        status = 405;
        body = errorBody("Method not allowed", "invalid_request_error", "");
    } else if (!authorized(request)) {
        status = 401;
        body = errorBody("Incorrect API key provided", "invalid_request_error", "invalid_api_key");
    } else {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& fault : faults_) {
            if (fault.remaining <= 0) continue;
            if (fault.action != "*" && fault.action != record.action) continue;
            if (!fault.callId.empty() && fault.callId != record.callId) continue;
            --fault.remaining;
            if (fault.delay.count() > 0) {
                delay = fault.delay;
                continue; // a delay combines with a following status fault
            }
            status = fault.status;
            body = fault.body;
            break;
        }
        faults_.erase(std::remove_if(faults_.begin(), faults_.end(), [](const Fault& f) { return f.remaining <= 0; }),
                      faults_.end());
        if (status == 200 && create) {
            status = createProblem.empty() ? 201 : 400;
            if (!createProblem.empty()) body = errorBody(createProblem, "invalid_request_error", "");
        }
        if (status == 200 && options_.strict && !calls_.count(record.callId)) {
            status = 404;
            body = notFoundBody();
        }
        if (status == 200 && record.action != "accept" && record.action != "reject" && record.action != "refer" &&
            record.action != "hangup") {
            status = 404;
            body = errorBody("Invalid URL (POST " + record.path + ")", "invalid_request_error", "");
        }
    }

    if (delay.count() > 0) {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait_for(lock, delay, [&] { return stopping_; });
    }
    record.status = status;

    if (status == 201) { // a created call: an id, an answer, and a script for its sideband
        record.callId = randomId("rtc_", 24);
        record.sdpAnswer = makeSdpAnswer(record.sdp);
        body = record.sdpAnswer;
        response.set("Location", "/v1/realtime/calls/" + record.callId);
    }

    std::vector<std::shared_ptr<SimulatedSession>> sessions;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (status == 201) {
            auto& call = calls_[record.callId];
            call.script = createdScript_ ? createdScript_
                                         : std::make_shared<const CallScript>(defaultCreatedCallScript(record.session));
            call.state = CallState::Accepted;
            call.session = record.session;
        }
        if (status == 200) {
            auto& call = calls_[record.callId];
            if (record.action == "accept" && call.state == CallState::Unknown) call.state = CallState::Accepted;
            if (record.action == "reject") call.state = CallState::Rejected;
            if (record.action == "hangup" || record.action == "refer") call.state = CallState::Ended;
            sessions = call.sessions;
        }
        rest_.push_back(record);
    }
    changed_.notify_all();

    std::string line = "REST " + record.method + " " + record.path + " -> " + std::to_string(status) +
                       " (Authorization: " + redactAuthorization(record.authorization) +
                       (record.idempotencyKey.empty() ? "" : ", Idempotency-Key: " + record.idempotencyKey) + ")";
    if (create)
        line += " session " + (record.session.size() <= 600 ? record.session : record.session.substr(0, 600) + "...") +
                ", sdp offer " + std::to_string(record.sdp.size()) + " bytes";
    else if (!record.body.empty())
        line += " body " + (record.body.size() <= 600
                                ? record.body
                                : record.body.substr(0, 600) + "...(" + std::to_string(record.body.size()) + " bytes)");
    emit(record.callId, line);
    for (const auto& warning : record.warnings)
        emit(record.callId, "WARNING: " + warning);

    if (!options_.restKeepAlive) response.setKeepAlive(false);
    answer(response, status, body, status == 201 ? "application/sdp" : "application/json");

    for (const auto& session : sessions) {
        session->onRestRequest(record.action, record.body);
        if (record.action == "hangup") session->closeFromRest(options_.restHangupClose, "host hung up (REST hangup)");
    }
    if (record.action == "refer" && !sessions.empty()) {
        // The transferred caller leaves OpenAI a moment after the REFER is answered.
        std::this_thread::sleep_for(options_.referCloseDelay);
        for (const auto& session : sessions)
            session->closeFromRest(options_.restHangupClose, "caller transferred (REST refer)");
    }
}

std::string RealtimeSimulator::readCreateForm(Poco::Net::HTTPServerRequest& request, RestRequest& record) const {
    std::string mediaType;
    Poco::Net::NameValueCollection parameters;
    Poco::Net::MessageHeader::splitParameters(request.getContentType(), mediaType, parameters);
    if (Poco::icompare(mediaType, Poco::Net::HTMLForm::ENCODING_MULTIPART) != 0)
        return "the body must be multipart/form-data with the parts sdp and session (Content-Type " +
               (mediaType.empty() ? std::string("none") : mediaType) + ")";
    Poco::Net::HTMLForm form;
    form.setValueLengthLimit(static_cast<int>(kMaxBody));
    FilePartCollector files;
    try {
        std::istringstream body(record.body);
        form.load(request, body, files);
    } catch (const Poco::Exception& e) {
        return "the body is not valid multipart/form-data: " + e.displayText();
    }
    const auto part = [&](const std::string& name, std::string& out) {
        if (form.has(name))
            out = form.get(name);
        else if (files.parts.count(name))
            out = files.parts.at(name);
        else
            return false;
        return true;
    };
    const bool hasSdp = part("sdp", record.sdp);
    const bool hasSession = part("session", record.session);
    if (!hasSdp) return "missing the sdp part (the SDP offer)";
    if (auto problem = sdpOfferProblem(record.sdp); !problem.empty()) return problem;
    if (!hasSession) return "missing the session part (the session's JSON)";
    return sessionProblem(record.session);
}

void RealtimeSimulator::handleUpgrade(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    Poco::URI uri(request.getURI());
    std::string callId;
    for (const auto& [key, value] : uri.getQueryParameters())
        if (key == "call_id") callId = value;
    if (tls() && overResumedTls(request)) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++resumedTls_;
    }

    auto refuse = [&](int status, const std::string& body, const std::string& why) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++refused_;
        }
        emit(callId, "sideband connect refused " + std::to_string(status) + ": " + why);
        answer(response, status, body);
    };
    if (!authorized(request)) {
        refuse(401, errorBody("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
               "bad Authorization " + redactAuthorization(request.get("Authorization", "")));
        return;
    }
    if (callId.empty()) {
        refuse(400, errorBody("Missing call_id", "invalid_request_error", ""), "no call_id query parameter");
        return;
    }
    {
        // holdUpgrades(true): a front end that does not answer the upgrade until released.
        std::unique_lock<std::mutex> lock(mutex_);
        if (holdUpgrades_) {
            ++heldUpgrades_;
            lock.unlock();
            emit(callId, "sideband upgrade held (holdUpgrades)");
            lock.lock();
            changed_.wait(lock, [&] { return stopping_ || !holdUpgrades_; });
            --heldUpgrades_;
        }
    }
    std::shared_ptr<const CallScript> script;
    std::string createdSession;
    bool accepted = false;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        const auto it = calls_.find(callId);
        const bool known = it != calls_.end();
        if (known) script = it->second.script, createdSession = it->second.session;
        accepted = known && it->second.state == CallState::Accepted;
        int status = 0;
        std::string why;
        if (refuse_)
            status = refuseStatus_, why = "sessions refused";
        else if (script && script->connect == ConnectBehaviour::Refuse403)
            status = 403, why = "scenario: refuse_403";
        else if (script && script->connect == ConnectBehaviour::Refuse404)
            status = 404, why = "scenario: refuse_404";
        else if (known && it->second.state == CallState::Rejected)
            status = 404, why = "call was rejected";
        else if (known && it->second.state == CallState::Ended)
            status = 404, why = "call already ended";
        else if (options_.strict && !known)
            status = 404, why = "unknown call id (strict)";
        if (status) {
            lock.unlock();
            refuse(status, status == 404 ? notFoundBody() : errorBody("Forbidden", "invalid_request_error", ""), why);
            return;
        }
    }

    // The TLS or TCP socket under the WebSocket (the same object), kept for split-frame writes.
    Poco::Net::StreamSocket transport = static_cast<Poco::Net::HTTPServerRequestImpl&>(request).socket();
    Poco::Net::WebSocket socket(request, response); // answers 101 and detaches the socket from Poco's HTTP loop
    socket.setReceiveTimeout(Poco::Timespan(2, 0)); // bounds a read of a half-arrived frame
    socket.setSendTimeout(Poco::Timespan(5, 0));
    socket.setNoDelay(true);
    if (script && script->connect == ConnectBehaviour::CloseImmediately) {
        emit(callId, "sideband upgraded, then dropped at once (scenario: close_immediately)");
        ::shutdown(socket.impl()->sockfd(), SHUT_RDWR);
        socket.close();
        return;
    }
    NetworkBehaviour network;
    network.splitFrames = script && script->splitFrames ? *script->splitFrames : options_.splitFrames;
    network.splitFrameDelay = options_.splitFrameDelay;
    network.pingInterval = options_.pingInterval;
    network.responseDoneDelay = options_.responseDoneDelay;
    network.spokenReply = options_.spokenReply;
    auto session =
        std::make_shared<SimulatedSession>(callId, socket, transport, script, *reactor_,
                                           static_cast<SessionObserver*>(this), options_.recordTraffic, network);
    if (!createdSession.empty()) session->configure(createdSession); // session.created shows it
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        calls_[callId].sessions.push_back(session);
        allSessions_.push_back(session);
    }
    if (!accepted) emit(callId, "WARNING: sideband connected for a call that was never accepted");
    reactor_->add(session);
    session->start();
    // Bytes a client sent right behind its upgrade request were read with it into the WebSocket's
    // own buffer, where epoll cannot see them: read them now.
    if (socket.available() > 0) session->onReadable();
    changed_.notify_all();
}

// --- recording and faults --------------------------------------------------------------------------

std::vector<RestRequest> RealtimeSimulator::restRequests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return rest_;
}

std::vector<RestRequest> RealtimeSimulator::restRequests(const std::string& callId) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<RestRequest> out;
    for (const auto& request : rest_)
        if (request.callId == callId) out.push_back(request);
    return out;
}

bool RealtimeSimulator::waitForRestRequests(std::size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return rest_.size() >= count; });
}

std::optional<RestRequest> RealtimeSimulator::waitForRestRequest(const std::string& callId, const std::string& action,
                                                                 std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<RestRequest> found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& request : rest_)
            if (request.callId == callId && (action.empty() || request.action == action)) {
                found = request;
                return true;
            }
        return false;
    });
    return found;
}

std::vector<RestRequest> RealtimeSimulator::createRequests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<RestRequest> out;
    for (const auto& request : rest_)
        if (request.action == "create") out.push_back(request);
    return out;
}

void RealtimeSimulator::clearRestRequests() {
    std::lock_guard<std::mutex> lock(mutex_);
    rest_.clear();
}

void RealtimeSimulator::failNext(const std::string& action, int status, int times, const std::string& callId,
                                 const std::string& body) {
    std::lock_guard<std::mutex> lock(mutex_);
    faults_.push_back(
        Fault{action, callId, status, body.empty() ? faultBody(status) : body, std::chrono::milliseconds(0), times});
}

void RealtimeSimulator::notFoundNext(const std::string& action, int times, const std::string& callId) {
    failNext(action, 404, times, callId, notFoundBody());
}

void RealtimeSimulator::delayNext(const std::string& action, std::chrono::milliseconds delay, int times,
                                  const std::string& callId) {
    std::lock_guard<std::mutex> lock(mutex_);
    faults_.push_back(Fault{action, callId, 0, {}, delay, times});
}

void RealtimeSimulator::holdUpgrades(bool hold) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        holdUpgrades_ = hold;
    }
    changed_.notify_all();
}

std::size_t RealtimeSimulator::heldUpgrades() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return heldUpgrades_;
}

void RealtimeSimulator::clearFaults() {
    std::lock_guard<std::mutex> lock(mutex_);
    faults_.clear();
}

// --- sessions --------------------------------------------------------------------------------------

void RealtimeSimulator::refuseSessions(bool refuse, int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    refuse_ = refuse;
    refuseStatus_ = status;
}

void RealtimeSimulator::setScript(const std::string& callId, CallScript script) {
    setScript(callId, std::make_shared<const CallScript>(std::move(script)));
}

void RealtimeSimulator::setScript(const std::string& callId, std::shared_ptr<const CallScript> script) {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_[callId].script = std::move(script);
}

void RealtimeSimulator::setCreatedCallScript(std::shared_ptr<const CallScript> script) {
    std::lock_guard<std::mutex> lock(mutex_);
    createdScript_ = std::move(script);
}

std::shared_ptr<SimulatedSession> RealtimeSimulator::session(const std::string& callId) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = calls_.find(callId);
    if (it == calls_.end() || it->second.sessions.empty()) return nullptr;
    return it->second.sessions.back();
}

std::shared_ptr<SimulatedSession> RealtimeSimulator::waitForSession(const std::string& callId,
                                                                    std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    std::shared_ptr<SimulatedSession> found;
    changed_.wait_for(lock, timeout, [&] {
        const auto it = calls_.find(callId);
        if (it != calls_.end() && !it->second.sessions.empty()) found = it->second.sessions.back();
        return found != nullptr;
    });
    return found;
}

std::vector<std::shared_ptr<SimulatedSession>> RealtimeSimulator::sessions() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return allSessions_;
}

std::size_t RealtimeSimulator::openSessions() const {
    std::size_t open = 0;
    for (const auto& session : sessions())
        open += session->isConnected() ? 1 : 0;
    return open;
}

std::size_t RealtimeSimulator::refusedSessions() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return refused_;
}

std::size_t RealtimeSimulator::resumedTlsUpgrades() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return resumedTls_;
}

std::size_t RealtimeSimulator::resumedTlsRestRequests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return resumedTlsRest_;
}

bool RealtimeSimulator::blackHole(const std::string& callId) {
    const auto latest = session(callId);
    if (!latest || !latest->isConnected()) return false;
    latest->blackHole();
    return true;
}

std::size_t RealtimeSimulator::pongsReceived(const std::string& callId) const {
    const auto latest = session(callId);
    return latest ? latest->networkStats().pongsReceived : 0;
}

std::size_t RealtimeSimulator::pingsReceived(const std::string& callId) const {
    const auto latest = session(callId);
    return latest ? latest->networkStats().pingsReceived : 0;
}

// --- measurements and observers ----------------------------------------------------------------------

std::vector<std::chrono::microseconds> RealtimeSimulator::roundTrips() const {
    std::lock_guard<std::mutex> lock(statsMutex_);
    return roundTrips_;
}

RoundTripStats RealtimeSimulator::roundTripStats() const {
    std::lock_guard<std::mutex> lock(statsMutex_);
    return percentiles(roundTrips_, timeouts_);
}

std::vector<std::chrono::microseconds> RealtimeSimulator::resumes() const {
    std::lock_guard<std::mutex> lock(statsMutex_);
    return resumes_;
}

RoundTripStats RealtimeSimulator::resumeStats() const {
    std::lock_guard<std::mutex> lock(statsMutex_);
    return percentiles(resumes_, deadAir_);
}

void RealtimeSimulator::resetRoundTrips() {
    std::lock_guard<std::mutex> lock(statsMutex_);
    roundTrips_.clear();
    timeouts_ = 0;
    resumes_.clear();
    deadAir_ = 0;
}

TurnStats RealtimeSimulator::turnStats() const {
    TurnStats total;
    for (const auto& session : sessions()) {
        const auto stats = session->turnStats();
        total.responsesCompleted += stats.responsesCompleted;
        total.responsesCancelled += stats.responsesCancelled;
        total.responsesFailed += stats.responsesFailed;
        total.responsesIncomplete += stats.responsesIncomplete;
        total.responseCreatesAccepted += stats.responseCreatesAccepted;
        total.responseCreatesRefused += stats.responseCreatesRefused;
        total.deadAir += stats.deadAir;
        total.extraResponseCreates += stats.extraResponseCreates;
        total.bargeInViolations += stats.bargeInViolations;
    }
    return total;
}

void RealtimeSimulator::setTraceSink(std::function<void(const std::string&, const std::string&)> sink) {
    std::lock_guard<std::mutex> lock(sinkMutex_);
    sink_ = std::move(sink);
    hasSink_ = static_cast<bool>(sink_);
}

void RealtimeSimulator::emit(const std::string& callId, const std::string& line) {
    if (options_.logTraffic) spdlog::info("[{}] {}", callId.empty() ? "-" : callId, line);
    if (!hasSink_) return; // the load path: no global lock per event when nobody listens
    std::lock_guard<std::mutex> lock(sinkMutex_);
    if (sink_) sink_(callId, line);
}

void RealtimeSimulator::onTrace(const std::string& callId, const std::string& line) {
    emit(callId, line);
}

void RealtimeSimulator::onRoundTrip(std::chrono::microseconds roundTrip) {
    std::lock_guard<std::mutex> lock(statsMutex_);
    roundTrips_.push_back(roundTrip);
}

void RealtimeSimulator::onOutputTimeout() {
    std::lock_guard<std::mutex> lock(statsMutex_);
    ++timeouts_;
}

void RealtimeSimulator::onResumed(std::chrono::microseconds resumedAfter) {
    std::lock_guard<std::mutex> lock(statsMutex_);
    resumes_.push_back(resumedAfter);
}

void RealtimeSimulator::onDeadAir() {
    std::lock_guard<std::mutex> lock(statsMutex_);
    ++deadAir_;
}

bool RealtimeSimulator::restSeen(const std::string& callId, const std::string& action, const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& request : rest_)
        if (request.callId == callId && request.action == action && request.status >= 200 && request.status < 300 &&
            (needle.empty() || request.body.find(needle) != std::string::npos))
            return true;
    return false;
}

} // namespace sideband::simulator
