// libFuzzer target: the front door's HTTP path, bytes of one connection in -> answer bytes out.
// Runs the server's own request parser (http::RequestParser, Node's http-parser with the head and
// body limits), router (http::Routes), answer serialisation (http::serializeResponse) and the
// webhook endpoint's decision procedure (webhook::WebhookService: signature, parse, dedup, route)
// behind the routes Host::buildRoutes installs (/api/v1/openai/webhook, /healthz, /readyz), with a
// fake pipeline (a handler answering 200, 502, or throwing) and a ManualClock. The connection loop
// below mirrors HttpServer's Connection::parse/dispatch/reject/respond without the socket: one
// request at a time, a refusal closes, `Connection: close` closes, workers answer at once (or, when
// the config byte says so, are all busy: 503).
//
// Input: byte 0 configures (segmentation, limits, readiness, busy workers, stopping); the rest is
// what the client sends. A request whose `webhook-signature` is exactly `v1,fuzz` is signed by the
// harness with the right key before the endpoint sees it, so verified bodies reach the JSON parser.
//
// Properties (abort when violated):
//   - the output is a sequence of complete HTTP/1.1 answers: interim `100 Continue`s, then final
//     answers each with a documented status (200 400 401 404 405 409 413 431 500 502 503), the RFC
//     reason phrase, `Content-Type: application/json`, a Content-Length equal to the body (absent
//     for HEAD) and a body that is a JSON object; nothing follows an answer with `Connection: close`;
//   - one final answer per request read (plus one for a refusal, which always closes): pipelined
//     requests are answered in order, and no more answers than requests;
//   - a request's body is never read as a request: with a Content-Length, the body has exactly that
//     many bytes; a request with two Content-Lengths, or Content-Length and Transfer-Encoding, is
//     never accepted (request smuggling); heads and bodies stay within the limits;
//   - the same bytes give the same requests and the same answer bytes however TCP splits them
//     (whole, one byte at a time, or chunks), but for the status of a final refusal (a head both
//     malformed and too large is refused for whichever http-parser reports first);
//   - nothing crashes, leaks or throws out of the server's code.
#include "FuzzSupport.h"

#include "core/Clock.h"
#include "core/Json.h"
#include "http/HttpEndpoint.h"
#include "http/HttpWire.h"
#include "metrics/MetricsRegistry.h"
#include "metrics/SidebandMetrics.h"
#include "webhook/WebhookDeduplicator.h"
#include "webhook/WebhookRouter.h"
#include "webhook/WebhookService.h"
#include "webhook/WebhookSignature.h"

#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace sideband;

namespace {

const std::string kKey = "fuzz-front-door-key-0123456789ab";
constexpr long long kNow = 1735689600; // 2025-01-01T00:00:00Z; the seeds' webhook-timestamp
const std::set<int> kDocumentedStatuses{200, 400, 401, 404, 405, 409, 413, 431, 500, 502, 503};

// The pipeline behind the webhook: a call id ending in '!' makes it throw (500), '?' a failed accept
// (502 as CallPipeline answers it); anything else is accepted.
class FakePipeline final : public webhook::WebhookEventHandler {
public:
    webhook::WebhookResponse handle(const webhook::WebhookEvent& event) override {
        if (!event.callId.empty() && event.callId.back() == '!') throw std::runtime_error("pipeline failed");
        if (!event.callId.empty() && event.callId.back() == '?') return {502, json::detail("Call accept failed")};
        return webhook::WebhookResponse::ok();
    }
};

struct Config {
    enum class Split { Whole, Bytes, Chunks } split = Split::Whole;
    bool smallLimits = false; // 512-byte heads, 2 KiB bodies: the limits are reachable within max_len
    bool ready = true;
    bool busy = false; // every other request that needs a worker finds none free
    bool stopping = false;
    std::uint8_t seed = 0;
};

Config configFrom(std::uint8_t byte) {
    Config config;
    config.split = (byte & 3) == 1   ? Config::Split::Bytes
                   : (byte & 3) >= 2 ? Config::Split::Chunks
                                     : Config::Split::Whole;
    config.smallLimits = byte & 4;
    config.ready = !(byte & 8);
    config.busy = byte & 16;
    config.stopping = (byte & 0xE0) == 0xE0;
    config.seed = byte;
    return config;
}

// One connection's run: what was read as requests and what was written back.
struct Run {
    std::vector<http::Request> requests;
    std::vector<bool> heads; // per final answer: a HEAD request (no body sent)
    std::size_t expectContinues = 0;
    bool refused = false;
    std::size_t refusalAt = 0; // where the refusal's answer starts in `output`
    std::string output;
};

class FrontDoor {
public:
    explicit FrontDoor(const Config& config)
        : config_(config), clock_(std::chrono::seconds(kNow)), verifier_({kKey}, clock_), deduplicator_(clock_),
          service_(verifier_, deduplicator_, router_, metrics()) {
        router_.add(webhook::event_type::kCallIncoming, pipeline_);
        router_.add(webhook::event_type::kCallEnded, pipeline_);
        // As Host::buildRoutes installs them, plus the harness's signing of `v1,fuzz`.
        routes_.add(
            "POST", "/api/v1/openai/webhook",
            [this](const http::Request& request) {
                webhook::SignatureHeaders headers{request.header("webhook-id"), request.header("webhook-timestamp"),
                                                  request.header("webhook-signature")};
                if (headers.signature == "v1,fuzz")
                    headers.signature =
                        "v1," + webhook::computeSignature(kKey, headers.id, headers.timestamp, request.body);
                auto triaged =
                    std::make_shared<webhook::WebhookService::Triage>(service_.triage(headers, request.body));
                if (triaged->answer) return http::Response::json(triaged->answer->status, triaged->answer->body);
                return http::Response::later(
                    [this, triaged] {
                        const auto answer = service_.finish(*triaged);
                        return http::Response::json(answer.status, answer.body);
                    },
                    [this, triaged] { service_.release(*triaged); });
            },
            http::RunOn::Inline);
        routes_.add(
            "GET", "/healthz", [](const http::Request&) { return http::Response::json(200, R"({"status":"ok"})"); },
            http::RunOn::Inline);
        routes_.add(
            "GET", "/readyz",
            [this](const http::Request&) {
                return config_.ready ? http::Response::json(200, R"({"status":"ready"})")
                                     : http::Response::json(503, R"({"status":"not_ready"})");
            },
            http::RunOn::Inline);
    }

    // The connection: `segments` arrive one after the other; each is parsed as far as it goes.
    Run serve(const std::vector<std::string>& segments) {
        Run run;
        http::RequestParser parser(limits(), [&](bool expectContinue) {
            if (!expectContinue) return;
            ++run.expectContinues;
            run.output += "HTTP/1.1 100 Continue\r\n\r\n";
        });
        std::string inbox;
        bool closed = false;
        for (const auto& segment : segments) {
            if (closed) break;
            inbox += segment;
            while (!inbox.empty() && !closed) {
                const auto result = parser.parse(inbox);
                if (result == http::RequestParser::Result::NeedMore) break;
                if (result == http::RequestParser::Result::Failed) {
                    // Connection::reject
                    const auto refusal = parser.refusal();
                    auto response = http::Response::json(refusal.status, json::detail(refusal.detail));
                    response.close = true;
                    run.refused = true;
                    run.refusalAt = run.output.size();
                    closed = respond(run, std::move(response), false, parser.keepAlive());
                    FUZZ_CHECK(closed);
                    break;
                }
                auto& request = parser.request();
                request.peer = "192.0.2.1:40000";
                run.requests.push_back(request);
                const bool head = request.method == "HEAD";
                closed = respond(run, dispatch(request, run.requests.size()), head, parser.keepAlive());
            }
        }
        return run;
    }

    http::RequestParser::Limits limits() const {
        return config_.smallLimits ? http::RequestParser::Limits{512, 2048} : http::RequestParser::Limits{};
    }

private:
    static metrics::MetricsRegistry& metrics() {
        static metrics::MetricsRegistry* registry = [] {
            auto* r = new metrics::MetricsRegistry;
            metrics::declareSidebandMetrics(*r);
            return r;
        }();
        return *registry;
    }

    // Connection::dispatch and runOnWorker, with a worker that answers at once (or none free).
    http::Response dispatch(const http::Request& request, std::size_t index) {
        const auto match = routes_.match(request.method, request.path);
        if (!match.endpoint) return match.error;
        if (match.runOn == http::RunOn::Inline) {
            auto response = http::Routes::run(*match.endpoint, request);
            if (!response.work) return response;
            return onWorker(std::move(response.work), std::move(response.refused), index);
        }
        return onWorker([&] { return http::Routes::run(*match.endpoint, request); }, nullptr, index);
    }
    http::Response onWorker(const std::function<http::Response()>& work, const std::function<void()>& refused,
                            std::size_t index) {
        if (config_.busy && index % 2 == 0) {
            if (refused) refused();
            auto busy = http::Response::json(503, json::detail("Server busy"));
            busy.headers.emplace_back("Retry-After", "1");
            return busy;
        }
        try {
            return work();
        } catch (const std::exception&) {
            return http::Response::json(500, json::detail("Internal error"));
        }
    }

    // Connection::respond; true when the connection closes after this answer.
    bool respond(Run& run, http::Response response, bool head, bool keepAlive) {
        const bool close = response.close || !keepAlive || config_.stopping;
        run.output += http::serializeResponse(response, head, close);
        run.heads.push_back(head);
        return close;
    }

    Config config_;
    ManualClock clock_;
    webhook::WebhookVerifier verifier_;
    webhook::InMemoryWebhookDeduplicator deduplicator_;
    webhook::WebhookRouter router_;
    webhook::WebhookService service_;
    std::shared_ptr<FakePipeline> pipeline_ = std::make_shared<FakePipeline>();
    http::Routes routes_;
};

std::vector<std::string> split(const std::string& bytes, const Config& config) {
    std::vector<std::string> segments;
    if (config.split == Config::Split::Whole) {
        segments.push_back(bytes);
    } else if (config.split == Config::Split::Bytes) {
        for (char c : bytes)
            segments.emplace_back(1, c);
    } else {
        std::uint32_t state = 0x9E3779B9u ^ config.seed ^ static_cast<std::uint32_t>(bytes.size());
        for (std::size_t at = 0; at < bytes.size();) {
            state = state * 1664525u + 1013904223u;
            const std::size_t length = 1 + (state >> 16) % 97;
            segments.push_back(bytes.substr(at, length));
            at += length;
        }
    }
    return segments;
}

std::string lower(std::string text) {
    for (auto& c : text)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// Reads the answers back with a parser of its own and checks each.
void checkOutput(const Run& run) {
    const std::string& out = run.output;
    std::size_t at = 0;
    std::size_t finals = 0;
    std::size_t interims = 0;
    bool closed = false;
    while (at < out.size()) {
        FUZZ_CHECK(!closed); // nothing after `Connection: close`
        const auto headEnd = out.find("\r\n\r\n", at);
        FUZZ_CHECK(headEnd != std::string::npos);
        const std::string head = out.substr(at, headEnd + 2 - at); // each line ends with CRLF
        at = headEnd + 4;
        FUZZ_CHECK(head.compare(0, 9, "HTTP/1.1 ") == 0);
        const auto lineEnd = head.find("\r\n");
        const std::string statusLine = head.substr(0, lineEnd);
        FUZZ_CHECK(statusLine.size() >= 13 && statusLine[12] == ' ');
        const int status = std::atoi(statusLine.substr(9, 3).c_str());
        FUZZ_CHECK(statusLine.substr(13) == http::reasonPhrase(status));
        if (status == 100) {
            FUZZ_CHECK(head == "HTTP/1.1 100 Continue\r\n");
            ++interims;
            continue;
        }
        FUZZ_CHECK(kDocumentedStatuses.count(status) == 1);
        FUZZ_CHECK(finals < run.heads.size());
        const bool isHead = run.heads[finals++];
        long long contentLength = -1;
        std::string contentType;
        for (std::size_t line = lineEnd + 2; line < head.size();) {
            const auto end = head.find("\r\n", line);
            const std::string text = head.substr(line, end - line);
            line = end + 2;
            const auto colon = text.find(": ");
            FUZZ_CHECK(colon != std::string::npos && colon > 0);
            FUZZ_CHECK(text.find('\r') == std::string::npos && text.find('\n') == std::string::npos);
            const auto name = lower(text.substr(0, colon));
            const auto value = text.substr(colon + 2);
            if (name == "content-length") {
                FUZZ_CHECK(contentLength == -1);
                FUZZ_CHECK(!value.empty() && value.find_first_not_of("0123456789") == std::string::npos);
                contentLength = std::stoll(value);
            } else if (name == "content-type") {
                contentType = value;
            } else if (name == "connection") {
                FUZZ_CHECK(value == "close");
                closed = true;
            } else {
                FUZZ_CHECK(name == "allow" || name == "retry-after");
            }
        }
        FUZZ_CHECK(contentLength >= 0);
        FUZZ_CHECK(contentType == "application/json");
        if (isHead) continue; // HEAD: the length of the body a GET would get, and no body
        FUZZ_CHECK(out.size() - at >= static_cast<std::size_t>(contentLength));
        const std::string body = out.substr(at, static_cast<std::size_t>(contentLength));
        at += static_cast<std::size_t>(contentLength);
        Poco::JSON::Parser parser;
        Poco::Dynamic::Var value;
        try {
            value = parser.parse(body);
        } catch (const std::exception&) {
            FUZZ_CHECK(!"an answer's body is not JSON");
        }
        FUZZ_CHECK(value.type() == typeid(Poco::JSON::Object::Ptr));
    }
    FUZZ_CHECK(finals == run.heads.size());
    FUZZ_CHECK(finals == run.requests.size() + (run.refused ? 1 : 0));
    FUZZ_CHECK(interims == run.expectContinues);
    // One 100 Continue per head that asked for it: answered requests, a refused one, or the one
    // still arriving when the input ends.
    FUZZ_CHECK(interims <= run.requests.size() + 1);
    if (run.refused) FUZZ_CHECK(closed);
}

void checkRequests(const Run& run, const http::RequestParser::Limits& limits) {
    for (const auto& request : run.requests) {
        FUZZ_CHECK(!request.method.empty());
        FUZZ_CHECK(request.path.size() <= request.target.size());
        FUZZ_CHECK(request.body.size() <= limits.maxBodyBytes);
        std::size_t headBytes = request.target.size();
        int contentLengths = 0;
        int transferEncodings = 0;
        std::string contentLength;
        for (const auto& [name, value] : request.headers) {
            headBytes += name.size() + value.size() + 4;
            FUZZ_CHECK(lower(name) == name);
            if (name == "content-length") {
                ++contentLengths;
                contentLength = value;
            }
            if (name == "transfer-encoding") ++transferEncodings;
        }
        FUZZ_CHECK(headBytes <= limits.maxHeadBytes + 4 * request.headers.size());
        // Request smuggling: a length two framings could read differently is refused, never served.
        FUZZ_CHECK(contentLengths <= 1);
        FUZZ_CHECK(contentLengths == 0 || transferEncodings == 0);
        if (contentLengths == 1) {
            // The parser read exactly the announced body: what follows it is the next request.
            std::size_t first = contentLength.find_first_not_of(" \t");
            std::size_t last = contentLength.find_last_not_of(" \t");
            FUZZ_CHECK(first != std::string::npos);
            auto digits = contentLength.substr(first, last - first + 1);
            FUZZ_CHECK(digits.find_first_not_of("0123456789") == std::string::npos);
            // 1*DIGIT (RFC 9110): leading zeros are allowed and do not change the length.
            digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
            FUZZ_CHECK(digits.size() < 20 && std::stoull(digits) == request.body.size());
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogging();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto config = configFrom(data[0]);
    const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

    FrontDoor door(config);
    const auto run = door.serve(split(bytes, config));
    checkOutput(run);
    checkRequests(run, door.limits());

    // However TCP splits the same bytes: the same requests and the same answers.
    if (config.split != Config::Split::Whole) {
        FrontDoor whole(config);
        const auto again = whole.serve({bytes});
        // Except a refusal's status: a head both malformed and over the limit is refused for
        // whichever http-parser reports first, and it reports bytes to the limit's count as they
        // arrive. Either way the connection answers the same requests, refuses, and closes.
        const bool same = again.refused == run.refused &&
                          (run.refused ? again.output.substr(0, again.refusalAt) == run.output.substr(0, run.refusalAt)
                                       : again.output == run.output);
        if (!same) // for whoever reads the crash report
            std::fprintf(stderr, "split:\n%s\n--- whole:\n%s\n", run.output.c_str(), again.output.c_str());
        FUZZ_CHECK(same);
        FUZZ_CHECK(again.requests.size() == run.requests.size());
        for (std::size_t i = 0; i < run.requests.size(); ++i) {
            const auto& a = run.requests[i];
            const auto& b = again.requests[i];
            FUZZ_CHECK(a.method == b.method && a.target == b.target && a.body == b.body && a.headers == b.headers);
        }
    }
    return 0;
}
