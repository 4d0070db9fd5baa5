#pragma once

#include "metrics/MetricsRegistry.h"
#include "openai/CallControl.h"
#include "openai/TlsSessionCache.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/URI.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace sideband::openai {

struct RestClientOptions {
    std::string baseUrl = "https://api.openai.com/v1";
    std::string apiKey;
    std::string caFile; // extra trusted CA (e.g. the simulator's test CA), on top of the system store
    std::chrono::milliseconds connectTimeout{2000};
    std::chrono::milliseconds totalTimeout{5000}; // the whole operation, retries included
    int retries = 2;                              // extra attempts after the first
    std::chrono::milliseconds backoff{100};       // doubled per retry, capped at 1 s
    std::size_t maxIdleConnections = 32;          // kept-alive connections; size it to the webhook threads
    // Set: every HTTP attempt is counted in sideband_openai_requests_total{operation,status}.
    metrics::MetricsRegistry* metrics = nullptr;
};

// Builds the TLS client context every OpenAI connection uses: the server certificate is always
// verified (system store plus the optional CA file) and so is its host name.
Poco::Net::Context::Ptr makeVerifyingClientContext(const std::string& caFile);

// Call control over Poco's HTTP(S) client. Connections are kept alive and reused from a small
// pool (one the server has closed is dropped, and a request that fails on a reused connection
// before any answer is resent at once on a fresh one, outside the retry budget); connection
// errors, timeouts, 408, 409, 429 and 5xx are retried with bounded backoff and the same
// Idempotency-Key, for every operation (create, accept, reject, refer, hangup); any other 4xx is
// final (404: the caller is gone; 400, 401, 403, 422...: the request is refused). The API's error
// message of a failed answer is returned in the result, redacted. Answers are read up to 64 KiB.
class OpenAIRestClient final : public CallControl {
public:
    explicit OpenAIRestClient(RestClientOptions options);
    ~OpenAIRestClient() override;

    // POST {base}/realtime/calls, multipart/form-data (`sdp`, `session`). A 201 without a usable
    // Location (.../calls/{id}) or whose body is not SDP is a failure: status kept, `error` says why.
    CreatedCall create(const std::string& sdpOffer, const std::string& session,
                       const std::string& idempotencyKey) override;
    RestResult accept(const std::string& callId, const std::string& session,
                      const std::string& idempotencyKey) override;
    RestResult reject(const std::string& callId, int sipStatus, const std::string& idempotencyKey) override;
    RestResult refer(const std::string& callId, const std::string& targetUri,
                     const std::string& idempotencyKey) override;
    RestResult hangup(const std::string& callId, const std::string& idempotencyKey) override;

private:
    // One operation: the same request, sent as often as the retry rules allow.
    struct Exchange {
        std::string operation; // the metrics label and the log's word: create, accept, ...
        std::string callId;    // for the logs; empty while a call is being created
        std::string path;
        std::string contentType;
        std::string body;
        std::string idempotencyKey;
    };
    // Reads a 2xx answer (`complete`: it fit the bound). Setting result.error makes the operation a
    // failure that is not retried; the status is kept.
    using AnswerReader = std::function<void(const Poco::Net::HTTPResponse& response, const std::string& answer,
                                            bool complete, RestResult& result)>;

    RestResult send(const Exchange& exchange, const AnswerReader& readAnswer = {});
    // accept / reject / refer / hangup: a JSON body to {base}/realtime/calls/{id}/{action}.
    RestResult post(const std::string& callId, const std::string& action, const std::string& body,
                    const std::string& idempotencyKey);
    void count(const std::string& action, const std::string& status); // one HTTP attempt's outcome
    // A pooled connection when one is still open (reused = true), else - or when `fresh` - a new one.
    std::unique_ptr<Poco::Net::HTTPClientSession> acquire(bool fresh, bool& reused);
    void recycle(std::unique_ptr<Poco::Net::HTTPClientSession> session);

    RestClientOptions options_;
    Poco::URI base_;
    Poco::Net::Context::Ptr context_;
    // New connections resume an earlier one's TLS session: after a burst, or once the server has
    // closed idle ones, reconnecting costs no certificate chain (and no server signature).
    std::unique_ptr<TlsSessionCache> tlsSessions_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>> idle_;
};

} // namespace sideband::openai
