#include "openai/OpenAIRestClient.h"

#include "core/Json.h"
#include "core/Logging.h"

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>

#include <openssl/ssl.h>
#include <poll.h>

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <thread>

namespace sideband::openai {
namespace {

bool retryable(int status) {
    return status == 0 || status == 429 || status >= 500;
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

RestResult OpenAIRestClient::post(const std::string& callId, const std::string& action, const std::string& body,
                                  const std::string& idempotencyKey) {
    std::string encodedId;
    Poco::URI::encode(callId, "/?#%&+ ", encodedId);
    const std::string path = base_.getPath() + "/realtime/calls/" + encodedId + "/" + action;
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
        session->setTimeout(Poco::Timespan(std::min(options_.connectTimeout, remaining).count() * 1000),
                            Poco::Timespan(remaining.count() * 1000), Poco::Timespan(remaining.count() * 1000));
        try {
            Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, path, Poco::Net::HTTPMessage::HTTP_1_1);
            request.set("Authorization", "Bearer " + options_.apiKey);
            request.set("Idempotency-Key", idempotencyKey);
            request.set("User-Agent", "sideband/0.1");
            request.setContentType("application/json");
            request.setContentLength64(static_cast<Poco::Int64>(body.size()));
            request.setKeepAlive(true);
            session->sendRequest(request) << body;
            Poco::Net::HTTPResponse response;
            std::string answer;
            Poco::StreamCopier::copyToString(session->receiveResponse(response), answer);
            result.status = response.getStatus();
            result.error.clear();
            if (response.getKeepAlive()) recycle(std::move(session));
            if (!retryable(result.status)) break;
            result.error = "HTTP " + std::to_string(result.status) + ": " + answer.substr(0, 200);
        } catch (const Poco::TimeoutException& e) {
            result.status = 0;
            result.error = e.displayText();
        } catch (const Poco::Exception& e) {
            result.status = 0;
            result.error = e.displayText();
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
            const auto wait = std::min(backoff, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    deadline - std::chrono::steady_clock::now()));
            logging::forCall(callId).info("openai {} attempt {} failed ({}), retrying in {} ms", action,
                                          result.attempts, result.error, std::max<long long>(0, wait.count()));
            if (wait.count() > 0) std::this_thread::sleep_for(wait);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
    }
    if (!result.ok() && result.error.empty()) result.error = "HTTP " + std::to_string(result.status);
    if (result.status == 0 && result.attempts > 0 && result.error.empty()) result.error = "timed out";
    if (!result.ok())
        logging::forCall(callId).warn("openai {} failed after {} attempt(s): {}", action, result.attempts,
                                      result.error);
    return result;
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
