#include "webrtc/WebRtcCalls.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"
#include "openai/RealtimeEvents.h"
#include "openai/RestCallActions.h"
#include "tenants/WebTokens.h"
#include "webrtc/WebRtcPage.h"

#include <Poco/NumberParser.h>
#include <Poco/String.h>
#include <Poco/URI.h>
#include <Poco/UUIDGenerator.h>

#include <algorithm>

namespace sideband::webrtc {

namespace {

constexpr const char* kCallsPath = "/api/v1/webrtc/calls";
constexpr const char* kEventsPath = "/api/v1/webrtc/calls/events";
constexpr const char* kHangupPath = "/api/v1/webrtc/calls/hangup";
constexpr int kCapacityRetryAfterSeconds = 5;

std::string queryParameter(const http::Request& request, const std::string& name) {
    try {
        for (const auto& [key, value] : Poco::URI(request.target).getQueryParameters())
            if (key == name) return value;
    } catch (const Poco::Exception&) {
    }
    return {};
}

bool isSdpOffer(const http::Request& request) {
    auto type = Poco::toLower(request.header("content-type"));
    type = type.substr(0, type.find(';'));
    Poco::trimInPlace(type);
    return type == "application/sdp" && request.body.rfind("v=0", 0) == 0;
}

http::Response errorBody(int status, const std::string& detail, const std::string& reason = {}) {
    auto body = json::object();
    body->set("detail", detail);
    if (!reason.empty()) body->set("reason", reason);
    return http::Response::json(status, json::stringify(body));
}

} // namespace

struct WebRtcCalls::Caller {
    tenants::WebToken token;
};

WebRtcCalls::WebRtcCalls(calls::PipelineServices services, calls::PipelineOptions pipeline, WebRtcOptions options,
                         CallEventLogs& logs)
    : services_(services), pipeline_(std::move(pipeline)), options_(std::move(options)), logs_(logs) {}

void WebRtcCalls::addRoutes(http::Routes& routes) {
    const auto preflightRoute = [this](const http::Request& r) { return preflight(r); };
    routes.add("POST", kCallsPath, [this](const http::Request& r) { return create(r); });
    routes.add("GET", kEventsPath, [this](const http::Request& r) { return events(r); });
    routes.add("POST", kHangupPath, [this](const http::Request& r) { return hangup(r); });
    for (const char* path : {kCallsPath, kEventsPath, kHangupPath})
        routes.add("OPTIONS", path, preflightRoute, http::RunOn::Inline);
    if (!options_.page) return;
    routes.add(
        "GET", "/webrtc",
        [](const http::Request&) {
            auto moved = http::Response::json(308, json::detail("See /webrtc/"));
            moved.headers.emplace_back("Location", "/webrtc/");
            return moved;
        },
        http::RunOn::Inline);
    for (const auto& file : pageFiles()) {
        routes.add(
            "GET", file.path,
            [&file](const http::Request&) {
                auto response = http::Response::text(200, file.contentType, file.body);
                // The page talks to this host only, and runs no script it did not ship.
                response.headers.emplace_back(
                    "Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; "
                    "style-src 'self' 'unsafe-inline'");
                response.headers.emplace_back("Cache-Control", "no-cache");
                response.headers.emplace_back("X-Content-Type-Options", "nosniff");
                return response;
            },
            http::RunOn::Inline);
    }
}

bool WebRtcCalls::corsAllowed(const std::string& origin) const {
    return !origin.empty() &&
           std::any_of(options_.corsOrigins.begin(), options_.corsOrigins.end(),
                       [&](const std::string& allowed) { return allowed == "*" || allowed == origin; });
}

void WebRtcCalls::allowOrigin(const http::Request& request, http::Response& response) const {
    const auto& origin = request.header("origin");
    if (!corsAllowed(origin)) return;
    response.headers.emplace_back("Access-Control-Allow-Origin", origin);
    response.headers.emplace_back("Vary", "Origin");
    response.headers.emplace_back("Access-Control-Expose-Headers", "X-Sideband-Call-Id, Retry-After");
}

http::Response WebRtcCalls::preflight(const http::Request& request) const {
    if (!corsAllowed(request.header("origin"))) return errorBody(403, "Origin not allowed");
    auto response = http::Response::json(204, "");
    allowOrigin(request, response);
    response.headers.emplace_back("Access-Control-Allow-Methods", "POST, GET, OPTIONS");
    response.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type");
    response.headers.emplace_back("Access-Control-Max-Age", "600");
    return response;
}

void WebRtcCalls::count(const char* outcome) const {
    services_.metrics.increment(metrics::name::kWebRtcRequests, {{"outcome", outcome}});
}

http::Response WebRtcCalls::refuse(const http::Request& request, int status, const char* outcome,
                                   const std::string& detail, std::optional<int> retryAfterSeconds) const {
    count(outcome);
    auto response = errorBody(status, detail);
    if (status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
    if (retryAfterSeconds) response.headers.emplace_back("Retry-After", std::to_string(*retryAfterSeconds));
    allowOrigin(request, response);
    return response;
}

// The bearer token names an active token of an enabled tenant, and the request's Origin is one the
// token allows. Else `refusal` is set: 401, 403, or 503 when the store cannot answer. A browser
// leaves Origin out of a same-origin GET (the page's event log): only a call's creation, always a
// POST with an Origin from a browser, must carry one when the token names its origins.
std::optional<WebRtcCalls::Caller> WebRtcCalls::authorise(const http::Request& request, http::Response& refusal,
                                                          bool originRequired) {
    const auto& authorization = request.header("authorization");
    const std::string scheme = "bearer ";
    if (authorization.size() <= scheme.size() || Poco::icompare(authorization.substr(0, scheme.size()), scheme) != 0) {
        refusal = refuse(request, 401, "unauthorized", "Missing or invalid web token");
        return std::nullopt;
    }
    std::optional<tenants::WebToken> token;
    try {
        token = services_.store.webTokenBySecretHash(tenants::hashWebTokenSecret(authorization.substr(scheme.size())));
    } catch (const tenants::StoreError& e) {
        calls::countStoreError(services_, "-", "none", "web_token", e);
        refusal = refuse(request, 503, "store_unavailable", "Service unavailable", kCapacityRetryAfterSeconds);
        return std::nullopt;
    }
    if (!token) {
        refusal = refuse(request, 401, "unauthorized", "Missing or invalid web token");
        return std::nullopt;
    }
    const auto& origins = token->allowedOrigins;
    const auto& origin = request.header("origin");
    const bool unlisted = std::find(origins.begin(), origins.end(), origin) == origins.end();
    if (!origins.empty() && unlisted && (originRequired || !origin.empty())) {
        spdlog::warn("webrtc: token {} of tenant {} used from origin '{}', which it does not allow", token->id,
                     token->tenantId, origin);
        refusal = refuse(request, 403, "forbidden_origin", "Origin not allowed for this token");
        return std::nullopt;
    }
    return Caller{std::move(*token)};
}

http::Response WebRtcCalls::create(const http::Request& request) {
    if (request.body.size() > options_.maxOfferBytes)
        return refuse(request, 413, "too_large",
                      "SDP offer over " + std::to_string(options_.maxOfferBytes / 1024) + " KiB");
    http::Response refusal;
    const auto caller = authorise(request, refusal, true);
    if (!caller) return refusal;
    if (!isSdpOffer(request))
        return refuse(request, 400, "bad_offer", "Body must be an SDP offer (Content-Type: application/sdp)");
    const auto decision = rate_.admit(caller->token.id, caller->token.ratePerMinute, TokenRateLimiter::Clock::now());
    if (!decision.admitted)
        return refuse(request, 429, "rate_limited", "Too many calls for this token",
                      static_cast<int>(decision.retryAfter.count()));
    if (draining_) return refuse(request, 503, "draining", "Server draining", kCapacityRetryAfterSeconds);
    return createCall(request, *caller);
}

// The SIP pipeline's steps for a call OpenAI has not named yet: the slot is reserved under a
// provisional id and takes the call's id once OpenAI answers.
http::Response WebRtcCalls::createCall(const http::Request& request, const Caller& caller) {
    const auto& tenantId = caller.token.tenantId;
    const auto provisional = "webrtc_" + Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    std::optional<tenants::TenantConfig> config;
    std::optional<tenants::StoreError> configError;
    try {
        config = services_.store.config(tenantId);
    } catch (const tenants::StoreError& e) {
        configError = e;
    }
    // The same offer sent again (a retried POST) is the same call: OpenAI's idempotency, and here
    // its answer again without a second slot.
    const auto key = "create_" + tenants::hashWebTokenSecret(caller.token.id + "\n" + request.body).substr(0, 32);
    if (auto created = recentCreates_.find(key)) {
        logging::forCall(created->callId, tenantId).info("webrtc offer sent again: answered with the same call");
        count("repeated");
        return answered(request, created->callId, created->sdpAnswer);
    }
    if (services_.ledger.reserve(provisional, tenantId, calls::limitsFor(pipeline_, config)) !=
        calls::CallLedger::Reservation::Reserved) {
        logging::forCall(provisional, tenantId).info("webrtc call refused: capacity");
        return refuse(request, 503, "capacity", "At capacity", kCapacityRetryAfterSeconds);
    }
    // Released on every way out (an exception included) until it holds the call's id.
    struct ProvisionalSlot {
        calls::CallLedger& ledger;
        const std::string& id;
        bool held = true;
        ~ProvisionalSlot() {
            if (held) ledger.release(id);
        }
    } slot{services_.ledger, provisional};

    calls::AcceptedCall call;
    call.callId = provisional;
    call.tenantId = tenantId;
    call.caller = caller.token.id;
    call.channel = "webrtc";
    if (const auto reason = calls::prepareCall(services_, pipeline_, call, std::move(config), configError)) {
        logging::forCall(provisional, tenantId).warn("webrtc call refused: {}", *reason);
        count("tenant_unavailable");
        auto response = errorBody(503, "Tenant unavailable", *reason);
        allowOrigin(request, response);
        return response;
    }
    // The session's tools, as OpenAI must know them from the first word. The tools that serve the
    // call are built again below, bound to the call's id and its REST actions.
    calls::buildTools(services_, call);
    const auto instructions = call.instructions; // decorated by the plugin, as OpenAI is told
    const auto session = openai::realtime::acceptBody(call, pipeline_.defaultModel);
    call.tools.reset();

    tenants::CallRecord record;
    record.tenantId = tenantId;
    record.caller = caller.token.id;
    record.channel = "webrtc";
    record.receivedAt = services_.clock.now();
    record.fallback = call.fallback;

    const auto started = std::chrono::steady_clock::now();
    const auto created = services_.callControl.create(request.body, session, key);
    services_.metrics.observe(metrics::name::kAcceptSeconds,
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    const auto& result = created.result;
    if (!created.ok()) {
        record.callId = provisional;
        record.outcome = result.permanentFailure() ? "accept_refused" : "accept_failed";
        calls::saveCallRecord(services_, record);
        const auto status = calls::restStatusLabel(result);
        services_.metrics.increment(
            metrics::name::kAcceptFailures,
            {{"tenant", tenantId},
             {"reason", result.permanentFailure() ? "refused" : (result.timedOut ? "timeout" : "error")},
             {"status", status}});
        logging::forCall(provisional, tenantId)
            .error("webrtc call not created by OpenAI (HTTP {}): {}", status,
                   result.apiMessage.empty() ? result.error : result.apiMessage);
        count(result.permanentFailure() ? "openai_refused" : "openai_failed");
        auto body = json::object();
        body->set("detail", result.permanentFailure() ? "OpenAI refused the call" : "OpenAI did not create the call");
        body->set("status", result.status);
        if (!result.apiMessage.empty()) body->set("error", result.apiMessage);
        auto response = http::Response::json(502, json::stringify(body));
        allowOrigin(request, response);
        return response;
    }

    const auto& callId = created.callId;
    if (!services_.ledger.rename(provisional, callId)) {
        if (services_.ledger.isKnown(callId)) { // this offer's call, created and served already
            logging::forCall(callId, tenantId).info("webrtc offer sent again: answered with the same call");
            count("repeated");
            return answered(request, callId, created.sdpAnswer);
        }
        logging::forCall(callId, tenantId).error("webrtc call lost its slot before OpenAI answered; hanging up");
        services_.callControl.hangup(callId, "hangup_" + callId);
        return refuse(request, 503, "capacity", "At capacity", kCapacityRetryAfterSeconds);
    }

    slot.held = false;
    recentCreates_.remember(key, {callId, created.sdpAnswer});
    services_.ledger.markAccepted(callId);
    record.callId = callId;
    record.outcome = "accepted";
    record.acceptedAt = services_.clock.now();
    calls::saveCallRecord(services_, record);
    services_.metrics.increment(metrics::name::kCallsAccepted, {{"tenant", tenantId}, {"channel", "webrtc"}});
    if (call.fallback) services_.metrics.increment(metrics::name::kFallbacks, {{"tenant", tenantId}});
    count("created");

    call.callId = callId;
    call.actions = std::make_shared<openai::RestCallActions>(services_.callControl, callId);
    calls::buildTools(services_, call);
    call.instructions = instructions;
    call.observer = logs_.open(callId, caller.token.id);
    logging::forCall(callId, tenantId)
        .info("webrtc call created{} ({} tools), token {}", call.fallback ? " with fallback instructions" : "",
              call.tools ? call.tools->tools().size() : 0, caller.token.id);
    services_.sessions.launch(std::move(call));
    return answered(request, callId, created.sdpAnswer);
}

http::Response WebRtcCalls::answered(const http::Request& request, const std::string& callId,
                                     const std::string& sdpAnswer) const {
    auto answer = http::Response::text(201, "application/sdp", sdpAnswer);
    answer.headers.emplace_back("X-Sideband-Call-Id", callId);
    allowOrigin(request, answer);
    return answer;
}

http::Response WebRtcCalls::events(const http::Request& request) {
    http::Response refusal;
    const auto caller = authorise(request, refusal, false);
    if (!caller) return refusal;
    std::uint64_t after = 0;
    const auto afterText = queryParameter(request, "after");
    if (!afterText.empty() && !Poco::NumberParser::tryParseUnsigned64(afterText, after))
        return refuse(request, 400, "bad_request", "after must be a non-negative integer");
    const auto page = logs_.read(queryParameter(request, "call_id"), caller->token.id, after);
    if (!page.found) return refuse(request, 404, "unknown_call", "No such call for this token");
    auto body = json::object();
    Poco::JSON::Array::Ptr events = new Poco::JSON::Array;
    for (const auto& event : page.events)
        events->add(json::parse(event));
    body->set("events", events);
    body->set("next", page.next);
    body->set("ended", page.ended);
    auto response = http::Response::json(200, json::stringify(body));
    allowOrigin(request, response);
    return response;
}

http::Response WebRtcCalls::hangup(const http::Request& request) {
    http::Response refusal;
    const auto caller = authorise(request, refusal, false);
    if (!caller) return refusal;
    const auto callId = queryParameter(request, "call_id");
    switch (logs_.claimHangup(callId, caller->token.id)) {
    case CallEventLogs::Hangup::UnknownCall:
        return refuse(request, 404, "unknown_call", "No such call for this token");
    case CallEventLogs::Hangup::AlreadyOver:
        count("hangup_repeated");
        break;
    case CallEventLogs::Hangup::Claimed:
        logging::forCall(callId, caller->token.tenantId).info("webrtc call hung up by the browser");
        services_.sessions.hangUp(callId, caller->token.tenantId, "browser_hangup");
        count("hung_up");
    }
    auto response = http::Response::json(200, R"({"ok":true})");
    allowOrigin(request, response);
    return response;
}

} // namespace sideband::webrtc
