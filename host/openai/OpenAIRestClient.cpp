#include "openai/OpenAIRestClient.h"

#include "core/Json.h"
#include "core/Logging.h"
#include "metrics/SidebandMetrics.h"

#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/StringPartSource.h>

#include <openssl/ssl.h>
#include <poll.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sideband::openai {
namespace {

// No answer, or an answer that says "not now": the same request (same Idempotency-Key) may succeed.
constexpr std::size_t kMaxAnswer = 64 * 1024; // an SDP answer is a few KiB; error bodies are smaller

bool retryable(int status) {
    return status == 0 || status == 408 || status == 409 || status == 429 || status >= 500;
}

// Text from OpenAI made fit for a log line: one line, bounded, and no credential. A 401's message
// quotes the key it refused, masked but with its ends visible ("Incorrect API key provided:
// sk-proj-ab***...***xY9."): every `sk-...` token and the configured key itself are redacted.
std::string sanitize(const std::string& text, const std::string& apiKey, std::size_t limit) {
    std::string redacted = text;
    if (apiKey.size() >= 8)
        for (auto at = redacted.find(apiKey); at != std::string::npos; at = redacted.find(apiKey, at))
            redacted.replace(at, apiKey.size(), "<redacted>");
    const auto tokenChar = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '*' || c == '.';
    };
    std::string out;
    out.reserve(std::min(redacted.size(), limit + 16));
    for (std::size_t i = 0; i < redacted.size() && out.size() < limit;) {
        const bool wordStart = i == 0 || !std::isalnum(static_cast<unsigned char>(redacted[i - 1]));
        if (wordStart && redacted.compare(i, 3, "sk-") == 0) {
            out += "sk-<redacted>";
            i += 3;
            while (i < redacted.size() && tokenChar(redacted[i]))
                ++i;
            continue;
        }
        const auto c = static_cast<unsigned char>(redacted[i++]);
        out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
    }
    if (out.size() >= limit && redacted.size() > limit) out += "...";
    return out;
}

// {"error":{"message":"...","type":"...","code":"..."}} -> the result's api* fields.
void parseApiError(const std::string& body, const std::string& apiKey, RestResult& result) {
    const auto root = json::parse(body);
    if (root.isEmpty() || root.type() != typeid(Poco::JSON::Object::Ptr)) return;
    try {
        const auto error = root.extract<Poco::JSON::Object::Ptr>()->getObject("error");
        if (!error) return;
        const auto field = [&](const char* name, std::size_t limit) -> std::string {
            if (!error->has(name) || error->isNull(name)) return {};
            const auto value = error->get(name);
            if (value.isString() || value.isNumeric()) return sanitize(value.convert<std::string>(), apiKey, limit);
            return {};
        };
        result.apiMessage = field("message", 300);
        result.apiType = field("type", 64);
        result.apiCode = field("code", 64);
    } catch (const Poco::Exception&) {
        // not the documented shape: the raw excerpt in `error` is all there is
    }
}

// "HTTP 400 invalid_request_error/invalid_value: Invalid 'tools[0]'..." (or the raw body's start).
std::string describeAnswer(const RestResult& result, const std::string& answer, const std::string& apiKey) {
    std::string line = "HTTP " + std::to_string(result.status);
    if (!result.apiType.empty() || !result.apiCode.empty()) {
        line += " " + result.apiType;
        if (!result.apiType.empty() && !result.apiCode.empty()) line += "/";
        line += result.apiCode;
    }
    if (!result.apiMessage.empty()) return line + ": " + result.apiMessage;
    if (!answer.empty()) return line + ": " + sanitize(answer, apiKey, 200);
    return line;
}

// An idle kept-alive connection has nothing to say: if it is readable, the server has closed it
// (or sent what no request asked for). Either way it must not carry the next request. One poll(2):
// Poco's Socket::poll creates an epoll instance per call.
bool peerClosed(Poco::Net::HTTPClientSession& session) {
    pollfd watched{};
    watched.fd = static_cast<int>(session.socket().impl()->sockfd());
    watched.events = POLLIN;
    if (watched.fd < 0) return true;
    return ::poll(&watched, 1, 0) != 0; // readable, hung up, in error, or poll itself failed
}

// At most `limit` bytes of an answer into `out`; false when there was more (left unread).
bool readBounded(std::istream& in, std::size_t limit, std::string& out) {
    char chunk[8192];
    while (in) {
        in.read(chunk, sizeof chunk);
        out.append(chunk, static_cast<std::size_t>(in.gcount()));
        if (out.size() > limit) {
            out.resize(limit);
            return false;
        }
    }
    return true;
}

// "/v1/realtime/calls/rtc_abc" (or an absolute URL ending so) -> "rtc_abc"; empty when the header
// names no call.
std::string callIdFromLocation(const std::string& location) {
    std::vector<std::string> segments;
    try {
        Poco::URI(location).getPathSegments(segments);
    } catch (const Poco::Exception&) {
        return {};
    }
    if (segments.size() < 2 || segments[segments.size() - 2] != "calls") return {};
    const auto& id = segments.back();
    const bool usable = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    return usable ? id : std::string();
}

// An SDP session description starts with its version line.
bool looksLikeSdp(const std::string& text) {
    return text.rfind("v=0\r\n", 0) == 0 || text.rfind("v=0\n", 0) == 0;
}

} // namespace

Poco::Net::Context::Ptr makeVerifyingClientContext(const std::string& caFile) {
    Poco::Net::initializeSSL();
    Poco::Net::Context::Params params;
    params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    params.loadDefaultCAs = true;
    params.caLocation = caFile;
    params.cipherList = "HIGH:!aNULL:!MD5:!RC4";
    Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    context->enableExtendedCertificateVerification(true); // the host name must match the certificate
    context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                              Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
    // Key share: P-256 first. OpenSSL's P-256 is assembly on x86-64 while its X25519 key generation
    // is portable C; with one sideband connection per call this halves the handshake's CPU.
    if (SSL_CTX_set1_groups_list(context->sslContext(), "P-256:X25519") != 1)
        throw std::runtime_error("cannot set the TLS key exchange groups");
    return context;
}

OpenAIRestClient::OpenAIRestClient(RestClientOptions options) : options_(std::move(options)), base_(options_.baseUrl) {
    if (base_.getScheme() == "https") {
        context_ = makeVerifyingClientContext(options_.caFile);
        tlsSessions_ = std::make_unique<TlsSessionCache>(context_);
    } else if (base_.getScheme() != "http") {
        throw std::invalid_argument("OPENAI_BASE_URL must be an http(s) URL");
    }
}

OpenAIRestClient::~OpenAIRestClient() = default;

std::unique_ptr<Poco::Net::HTTPClientSession> OpenAIRestClient::acquire(bool fresh, bool& reused) {
    std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>> closed; // destroyed outside the lock
    {
        std::lock_guard lock(mutex_);
        while (!fresh && !idle_.empty()) {
            auto session = std::move(idle_.back());
            idle_.pop_back();
            if (peerClosed(*session)) {
                closed.push_back(std::move(session));
                continue;
            }
            reused = true;
            return session;
        }
    }
    reused = false;
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (context_)
        session = std::make_unique<Poco::Net::HTTPSClientSession>(base_.getHost(), base_.getPort(), context_,
                                                                  tlsSessions_->take());
    else
        session = std::make_unique<Poco::Net::HTTPClientSession>(base_.getHost(), base_.getPort());
    session->setKeepAlive(true);
    return session;
}

void OpenAIRestClient::recycle(std::unique_ptr<Poco::Net::HTTPClientSession> session) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < options_.maxIdleConnections) idle_.push_back(std::move(session));
}

void OpenAIRestClient::count(const std::string& action, const std::string& status) {
    if (options_.metrics)
        options_.metrics->increment(metrics::name::kOpenAIRequests, {{"operation", action}, {"status", status}});
}

RestResult OpenAIRestClient::send(const Exchange& exchange, const AnswerReader& readAnswer) {
    const auto deadline = std::chrono::steady_clock::now() + options_.totalTimeout;
    auto backoff = options_.backoff;
    bool resentOnFreshConnection = false;
    bool freshConnection = false; // the next attempt must not take a pooled connection

    RestResult result;
    for (int attempt = 0; attempt <= options_.retries; ++attempt) {
        const auto remaining =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (remaining.count() <= 0) break;
        ++result.attempts;
        bool reused = false;
        auto session = acquire(freshConnection, reused);
        freshConnection = false;
        // Over TLS, Poco 1.11 waits twice per blocked read or write: the socket's own timeout
        // (SO_RCVTIMEO / SO_SNDTIMEO) runs out, OpenSSL reports WANT_READ/WANT_WRITE, and Poco
        // polls once more for the same time before throwing. Half of what is left keeps a hung
        // answer within the operation's deadline. Never 0: to Poco that means no timeout at all.
        const auto io = context_ ? std::max(remaining / 2, std::chrono::milliseconds(1)) : remaining;
        session->setTimeout(Poco::Timespan(std::min(options_.connectTimeout, remaining).count() * 1000),
                            Poco::Timespan(io.count() * 1000), Poco::Timespan(io.count() * 1000));
        try {
            Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, exchange.path,
                                           Poco::Net::HTTPMessage::HTTP_1_1);
            request.set("Authorization", "Bearer " + options_.apiKey);
            request.set("Idempotency-Key", exchange.idempotencyKey);
            request.set("User-Agent", "sideband/0.1");
            request.setContentType(exchange.contentType);
            request.setContentLength64(static_cast<Poco::Int64>(exchange.body.size()));
            request.setKeepAlive(true);
            session->sendRequest(request) << exchange.body;
            Poco::Net::HTTPResponse response;
            std::string answer;
            const bool complete = readBounded(session->receiveResponse(response), kMaxAnswer, answer);
            result.status = response.getStatus();
            result.timedOut = false;
            result.error.clear();
            result.apiMessage.clear();
            result.apiType.clear();
            result.apiCode.clear();
            count(exchange.operation, std::to_string(result.status));
            if (complete && response.getKeepAlive()) recycle(std::move(session)); // nothing left unread
            if (!result.ok()) {
                parseApiError(answer, options_.apiKey, result);
                result.error = describeAnswer(result, answer, options_.apiKey);
            } else if (readAnswer) {
                readAnswer(response, answer, complete, result);
            }
            if (!retryable(result.status)) break;
        } catch (const Poco::TimeoutException& e) {
            result.status = 0;
            result.timedOut = true;
            result.error = e.displayText();
            count(exchange.operation, "timeout");
        } catch (const Poco::Exception& e) {
            result.status = 0;
            result.timedOut = false;
            result.error = e.displayText();
            count(exchange.operation, "error");
            // A kept-alive connection the server closed just as it was taken from the pool fails
            // before any answer. The request is sent again at once on a fresh connection, once per
            // call and without spending a retry: its Idempotency-Key makes the resend safe, and the
            // backoff is for a server in trouble, not for a connection that aged out.
            if (reused && !resentOnFreshConnection) {
                resentOnFreshConnection = true;
                freshConnection = true;
                --attempt;
                continue;
            }
        }
        if (attempt < options_.retries) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break; // no time for another attempt: not "retrying"
            const auto wait = std::min(backoff, left);
            logging::forCall(exchange.callId)
                .info("openai {} attempt {} failed ({}), retrying in {} ms", exchange.operation, result.attempts,
                      result.error, wait.count());
            if (wait.count() > 0) std::this_thread::sleep_for(wait);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
    }
    if (result.attempts == 0) { // the deadline passed before the first attempt (a zero timeout)
        result.timedOut = true;
        result.error = "timed out before the first attempt";
    }
    if (!result.ok() && result.error.empty()) result.error = "HTTP " + std::to_string(result.status);
    if (!result.error.empty()) // a failure, or a 2xx answer the reader refused
        logging::forCall(exchange.callId)
            .warn("openai {} failed after {} attempt(s): {}", exchange.operation, result.attempts, result.error);
    return result;
}

RestResult OpenAIRestClient::post(const std::string& callId, const std::string& action, const std::string& body,
                                  const std::string& idempotencyKey) {
    std::string encodedId;
    Poco::URI::encode(callId, "/?#%&+ ", encodedId);
    return send({action, callId, base_.getPath() + "/realtime/calls/" + encodedId + "/" + action, "application/json",
                 body, idempotencyKey});
}

CreatedCall OpenAIRestClient::create(const std::string& sdpOffer, const std::string& session,
                                     const std::string& idempotencyKey) {
    Exchange exchange{"create", "", base_.getPath() + "/realtime/calls", "", "", idempotencyKey};
    {
        // Built once: every attempt sends the same bytes (and the same boundary).
        Poco::Net::HTMLForm form(Poco::Net::HTMLForm::ENCODING_MULTIPART);
        form.addPart("sdp", new Poco::Net::StringPartSource(sdpOffer, "application/sdp"));
        form.addPart("session", new Poco::Net::StringPartSource(session, "application/json"));
        Poco::Net::HTTPRequest prototype(Poco::Net::HTTPRequest::HTTP_POST, exchange.path,
                                         Poco::Net::HTTPMessage::HTTP_1_1);
        form.prepareSubmit(prototype); // picks the boundary and names it in the Content-Type
        std::ostringstream body;
        form.write(body);
        exchange.contentType = prototype.getContentType();
        exchange.body = body.str();
    }
    CreatedCall created;
    created.result = send(exchange, [&](const Poco::Net::HTTPResponse& response, const std::string& answer,
                                        bool complete, RestResult& result) {
        const auto location = response.get("Location", "");
        const auto callId = callIdFromLocation(location);
        if (callId.empty()) {
            result.error = "HTTP " + std::to_string(result.status) + " without a usable Location header (\"" +
                           sanitize(location, options_.apiKey, 120) + "\")";
        } else if (!complete) {
            result.error = "HTTP " + std::to_string(result.status) + ": the SDP answer is larger than " +
                           std::to_string(kMaxAnswer / 1024) + " KiB";
        } else if (!looksLikeSdp(answer)) {
            result.error =
                "HTTP " + std::to_string(result.status) + ": the answer is not SDP (Content-Type " +
                sanitize(response.getContentType(), options_.apiKey, 80) +
                (answer.empty() ? ", empty body)" : ", body \"" + sanitize(answer, options_.apiKey, 80) + "\")");
        } else {
            created.callId = callId;
            created.sdpAnswer = answer;
        }
    });
    if (!created.result.ok() || !created.result.error.empty()) {
        created.callId.clear();
        created.sdpAnswer.clear();
    }
    return created;
}

RestResult OpenAIRestClient::accept(const std::string& callId, const std::string& session,
                                    const std::string& idempotencyKey) {
    return post(callId, "accept", session, idempotencyKey);
}

RestResult OpenAIRestClient::reject(const std::string& callId, int sipStatus, const std::string& idempotencyKey) {
    auto body = json::object();
    body->set("status_code", sipStatus);
    return post(callId, "reject", json::stringify(body), idempotencyKey);
}

RestResult OpenAIRestClient::refer(const std::string& callId, const std::string& targetUri,
                                   const std::string& idempotencyKey) {
    auto body = json::object();
    body->set("target_uri", targetUri);
    return post(callId, "refer", json::stringify(body), idempotencyKey);
}

RestResult OpenAIRestClient::hangup(const std::string& callId, const std::string& idempotencyKey) {
    return post(callId, "hangup", "{}", idempotencyKey);
}

} // namespace sideband::openai
