#include "http/HttpServer.h"

#include "http/HttpWire.h"

#include "core/Json.h"
#include "io/EventLoop.h"
#include "io/Listener.h"
#include "io/Stream.h"
#include "io/WorkerPool.h"
#include "metrics/MetricsRegistry.h"
#include "metrics/SidebandMetrics.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SocketAddress.h>

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <list>
#include <stdexcept>
#include <unordered_map>

namespace sideband::http {
namespace {

// A client that pipelines requests faster than it reads answers is paused beyond this.
constexpr std::size_t kMaxPendingOutput = 256 * 1024;
constexpr auto kLimitLogInterval = std::chrono::seconds(10);

class Connection;

// One loop's connections; touched only on that loop's thread.
struct LoopConnections {
    io::EventLoop* loop = nullptr;
    std::unordered_map<Connection*, std::shared_ptr<Connection>> open;
    std::list<Connection*> idle; // oldest first: the first to go when the limit is reached
    std::size_t limit = 0;
    io::SteadyClock::time_point lastLimitLog{};
};

Poco::Net::Context::Ptr serverContext(const ListenerOptions& options) {
    Poco::Net::Context::Params params;
    params.certificateFile = options.tlsCertFile;
    params.privateKeyFile = options.tlsKeyFile;
    params.verificationMode = Poco::Net::Context::VERIFY_NONE; // clients are authenticated by signature
    params.cipherList = "HIGH:!aNULL:!MD5:!RC4";
    Poco::Net::Context::Ptr context;
    try {
        context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("cannot load TLS certificate/key (" + options.tlsCertFile + ", " + options.tlsKeyFile +
                                 "): " + e.displayText());
    }
    context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                              Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
    context->enableSessionCache(true, "sideband");
    // The stream's outbox may move between a write OpenSSL could not finish and its retry
    // (appended to, or compacted); without this OpenSSL fails the retry ("bad write retry").
    SSL_CTX_set_mode(context->sslContext(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    // A TCP FIN without close_notify is an end of stream, not an error that leaves the TLS
    // connection unable to write: a client that half-closes after its request still gets the
    // answer. HTTP frames its own messages, so a truncated request is never taken for a whole one.
    SSL_CTX_set_options(context->sslContext(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    return context;
}

} // namespace

struct HttpServer::Core {
    ListenerOptions options;
    std::shared_ptr<const Routes> routes;
    Poco::Net::Context::Ptr context;
    std::unique_ptr<io::EventLoops> ownLoops;
    io::EventLoops* loops = nullptr;
    std::vector<std::unique_ptr<LoopConnections>> perLoop;
    std::unique_ptr<io::Listener> listener;
    std::unique_ptr<io::WorkerPool> workers;
    std::atomic<std::size_t> openConnections{0};
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> nextLoop{0};

    // Requests between their last byte and the end of writing their answer: what stop() waits for.
    std::mutex inFlightMutex;
    std::condition_variable inFlightDone;
    std::size_t inFlight = 0;

    void beginRequest() {
        std::lock_guard lock(inFlightMutex);
        ++inFlight;
    }
    void endRequest() {
        std::lock_guard lock(inFlightMutex);
        if (--inFlight == 0) inFlightDone.notify_all();
    }
    void count(const char* name, const std::string& reason = {}) const {
        if (!options.metrics) return;
        metrics::Labels labels{{"listener", options.name}};
        if (!reason.empty()) labels.emplace_back("reason", reason);
        options.metrics->increment(name, labels);
    }
    void accept(Poco::Net::StreamSocket socket);
};

namespace {

// One client connection: http-parser over the stream's inbox, a request at a time (pipelined ones
// wait in the inbox, so answers leave in order), one deadline timer for whichever phase it is in.
class Connection final : public io::StreamHandler, public std::enable_shared_from_this<Connection> {
public:
    Connection(HttpServer::Core& core, LoopConnections& loop)
        : core_(core), loop_(loop), parser_({core.options.maxHeadBytes, core.options.maxBodyBytes},
                                            [this](bool expectContinue) { onHead(expectContinue); }) {}

    void start(Poco::Net::StreamSocket socket) {
        try {
            peer_ = socket.peerAddress().toString();
        } catch (const Poco::Exception&) {
            peer_ = "?";
        }
        stream_ =
            io::Stream::create(*loop_.loop, std::move(socket),
                               core_.context ? io::Stream::Tls::Server : io::Stream::Tls::None, core_.context, *this);
        loop_.open[this] = shared_from_this();
        core_.openConnections.fetch_add(1, std::memory_order_relaxed);
        // Idle peers that vanish without a FIN are found by the kernel, not only by our deadline.
        stream_->enableKeepAlive(60, 10, 3);
        if (core_.context) arm(core_.options.tlsHandshakeTimeout, "tls_handshake_timeout");
        stream_->open();
    }

    // Over the limit: the oldest idle connection makes room.
    void evict() { close("evicted"); }
    void close(const std::string& reason) {
        if (stream_ && stream_->isOpen()) {
            closeReason_ = reason;
            stream_->abort(reason);
        }
    }

    void onOpen(io::Stream&) override { becomeIdle(); }

    void onData(io::Stream&, std::string&) override {
        auto keep = shared_from_this(); // a close while parsing erases this connection from its loop
        if (phase_ == Phase::Idle) leaveIdle();
        parse();
    }

    void onDrained(io::Stream&) override {
        auto keep = shared_from_this();
        if (awaitingDrain_) {
            awaitingDrain_ = false;
            core_.endRequest();
        }
        if (closing_) {
            disarm(); // the last answer is out: only the stream's short linger is left, no write deadline
            return;
        }
        if (phase_ == Phase::Writing) {
            phase_ = Phase::Idle;
            becomeIdle();
        }
        // Also when the inbox is empty: parse() resumes reading a client paused behind its pipeline.
        if (phase_ == Phase::Idle) parse();
    }

    // The client has sent all it will (a half-close after its requests): what it asked is still
    // answered, then the connection closes. With nothing in progress it closes now.
    bool onPeerFinished(io::Stream&) override {
        peerFinished_ = true;
        return phase_ == Phase::Dispatched || phase_ == Phase::Writing;
    }

    void onClosed(io::Stream&, const std::string& reason) override {
        auto keep = shared_from_this();
        if (timer_) loop_.loop->cancel(timer_);
        timer_ = 0;
        leaveIdle();
        if (awaitingDrain_ || phase_ == Phase::Dispatched) core_.endRequest();
        awaitingDrain_ = false;
        phase_ = Phase::Closed;
        const auto& why = closeReason_.empty() ? reason : closeReason_;
        // The label is the kind of close ("read_error"), never its detail (an OpenSSL message):
        // a label of unbounded variety would grow the metrics without end.
        const auto kind = why.substr(0, why.find(':'));
        if (kind != why) spdlog::debug("connection from {}: {}", peer_, why);
        if (kind != "eof" && kind != "closed" && kind != "reset" && kind != "evicted") // evicted: counted at accept
            core_.count(metrics::name::kHttpConnectionsClosed, kind);
        core_.openConnections.fetch_sub(1, std::memory_order_relaxed);
        loop_.open.erase(this);
    }

    // A worker's answer, posted back to the loop.
    void answer(Response response) {
        auto keep = shared_from_this();
        if (phase_ != Phase::Dispatched) return; // closed meanwhile (stop, reset)
        respond(std::move(response));
        // Also when the inbox is empty: parse() resumes reading a client paused behind its pipeline.
        if (!parsing_ && phase_ == Phase::Idle) parse();
    }

private:
    enum class Phase { Idle, Head, Body, Dispatched, Writing, Closed };

    // A request's head is in and within the limits: its body comes next.
    void onHead(bool expectContinue) {
        phase_ = Phase::Body;
        arm(core_.options.bodyTimeout, "body_timeout");
        if (expectContinue) stream_->write("HTTP/1.1 100 Continue\r\n\r\n");
    }

    void parse() {
        parsing_ = true;
        auto& inbox = stream_->inbox();
        while (!inbox.empty() && stream_->isOpen() &&
               (phase_ == Phase::Idle || phase_ == Phase::Head || phase_ == Phase::Body)) {
            if (stream_->outboxSize() > kMaxPendingOutput) break; // resumes when the client reads
            if (phase_ == Phase::Idle) {
                leaveIdle();
                phase_ = Phase::Head;
                arm(core_.options.headTimeout, "head_timeout");
            }
            const auto result = parser_.parse(inbox);
            if (result == RequestParser::Result::Complete) {
                dispatch();
                continue;
            }
            if (result == RequestParser::Result::Failed) {
                reject();
                break;
            }
        }
        // Back-pressure: a client pipelining without reading our answers is not read either.
        const bool hold = phase_ == Phase::Dispatched || stream_->outboxSize() > kMaxPendingOutput;
        if (hold && inbox.size() > core_.options.maxHeadBytes + core_.options.maxBodyBytes)
            stream_->pauseReading();
        else if (!hold)
            stream_->resumeReading();
        parsing_ = false;
        closeOncePeerIsAnswered();
    }

    // After the client's half-close, once nothing it sent is left to answer (an incomplete request
    // never will be): close, after the last answer is out.
    void closeOncePeerIsAnswered() {
        if (!peerFinished_ || closing_ || phase_ == Phase::Dispatched || phase_ == Phase::Writing) return;
        closing_ = true;
        disarm();
        stream_->closeAfterWrite();
    }

    void reject() {
        const auto refusal = parser_.refusal();
        if (refusal.status == 413)
            spdlog::warn("request from {} refused: body over {} bytes", peer_, core_.options.maxBodyBytes);
        else if (refusal.status == 400)
            spdlog::debug("malformed request from {}: {}", peer_, refusal.error);
        core_.count(metrics::name::kHttpRequestsRefused, std::to_string(refusal.status));
        head_ = false;
        // The parser cannot resynchronise: what the client sends next is not read as a request.
        phase_ = Phase::Dispatched;
        core_.beginRequest();
        auto response = Response::json(refusal.status, json::detail(refusal.detail));
        response.close = true;
        respond(std::move(response));
    }

    void dispatch() {
        phase_ = Phase::Dispatched;
        disarm();
        auto& request = parser_.request();
        request.peer = peer_;
        head_ = request.method == "HEAD";
        core_.beginRequest();
        const auto match = core_.routes->match(request.method, request.path);
        if (!match.endpoint) return respond(match.error);
        if (match.runOn == RunOn::Inline) {
            auto response = Routes::run(*match.endpoint, request);
            if (!response.work) return respond(std::move(response));
            return runOnWorker(std::move(response.work), std::move(response.refused));
        }
        runOnWorker(
            [endpoint = match.endpoint, request = std::move(request)] { return Routes::run(*endpoint, request); });
    }

    void runOnWorker(std::function<Response()> work, std::function<void()> refused = nullptr) {
        std::weak_ptr<Connection> weak = shared_from_this();
        auto* loop = loop_.loop;
        const bool queued = core_.workers->trySubmit([weak, loop, work = std::move(work)] {
            Response response;
            try {
                response = work();
            } catch (const std::exception& e) {
                spdlog::error("request failed on a worker: {}", e.what());
                response = Response::json(500, json::detail("Internal error"));
            }
            loop->post([weak, response = std::move(response)]() mutable {
                if (auto self = weak.lock()) self->answer(std::move(response));
            });
        });
        if (!queued) {
            // Every worker busy and the queue full: say so now; OpenAI redelivers a webhook later.
            if (refused) refused();
            core_.count(metrics::name::kHttpSaturated);
            auto busy = Response::json(503, json::detail("Server busy"));
            busy.headers.emplace_back("Retry-After", "1");
            respond(std::move(busy));
        }
    }

    void respond(Response response) {
        // After the client's half-close the last answer says so (the rest of the inbox is all
        // that can still be asked).
        const bool close =
            response.close || !parser_.keepAlive() || core_.stopping || (peerFinished_ && stream_->inbox().empty());
        const auto out = serializeResponse(response, head_, close);
        stream_->write(out);
        if (close) {
            closing_ = true;
            phase_ = Phase::Writing;
            awaitingDrain_ = true;
            arm(core_.options.bodyTimeout, "write_timeout");
            stream_->closeAfterWrite();
            // The answer is out once the stream closes (onClosed ends the request).
            return;
        }
        if (stream_->outboxSize() == 0) {
            core_.endRequest();
            phase_ = Phase::Idle;
            becomeIdle();
        } else {
            awaitingDrain_ = true;
            phase_ = Phase::Writing;
            arm(core_.options.bodyTimeout, "write_timeout");
        }
    }

    void becomeIdle() {
        arm(core_.options.idleTimeout, "idle_timeout");
        if (!inIdleList_) {
            loop_.idle.push_back(this);
            idlePosition_ = std::prev(loop_.idle.end());
            inIdleList_ = true;
        }
    }
    void leaveIdle() {
        if (!inIdleList_) return;
        loop_.idle.erase(idlePosition_);
        inIdleList_ = false;
    }

    void arm(std::chrono::milliseconds timeout, const char* reason) {
        disarm();
        std::weak_ptr<Connection> weak = weak_from_this();
        timer_ = loop_.loop->runAfter(timeout, [weak, reason] {
            if (auto self = weak.lock()) {
                self->timer_ = 0;
                self->close(reason);
            }
        });
    }
    void disarm() {
        if (timer_) loop_.loop->cancel(timer_);
        timer_ = 0;
    }

    HttpServer::Core& core_;
    LoopConnections& loop_;
    std::shared_ptr<io::Stream> stream_;
    RequestParser parser_;
    Phase phase_ = Phase::Idle;
    bool parsing_ = false;
    bool closing_ = false;       // the last answer on this connection has been written
    bool peerFinished_ = false;  // the client has half-closed: nothing more will be asked
    bool awaitingDrain_ = false; // an answer is still being written: stop() waits for it
    std::string closeReason_;
    std::string peer_;
    bool head_ = false; // answering a HEAD request: headers only
    io::EventLoop::TimerId timer_ = 0;
    std::list<Connection*>::iterator idlePosition_;
    bool inIdleList_ = false;
};

} // namespace

void HttpServer::Core::accept(Poco::Net::StreamSocket socket) {
    // Connections are spread over the loops; each adopts its own on its own thread.
    auto& target = *perLoop[nextLoop.fetch_add(1, std::memory_order_relaxed) % perLoop.size()];
    target.loop->post([this, &target, socket = std::move(socket)]() mutable {
        if (stopping) return; // closes with `socket`
        if (target.open.size() >= target.limit) {
            const bool evicted = !target.idle.empty();
            if (evicted) {
                count(metrics::name::kHttpConnectionsClosed, "over_limit_evicted_idle");
                static_cast<Connection*>(target.idle.front())->evict();
            } else {
                count(metrics::name::kHttpConnectionsClosed, "over_limit_refused");
            }
            if (target.loop->now() - target.lastLimitLog > kLimitLogInterval) {
                target.lastLimitLog = target.loop->now();
                spdlog::warn("listener {}: {} connections open, the limit; {}", options.name, openConnections.load(),
                             evicted ? "closing the oldest idle one for each new one" : "refusing new ones");
            }
            if (!evicted) return;
        }
        try {
            auto connection = std::make_shared<Connection>(*this, target);
            connection->start(std::move(socket));
        } catch (const Poco::Exception& e) {
            spdlog::warn("listener {}: cannot set up a connection: {}", options.name, e.displayText());
        }
    });
}

HttpServer::HttpServer(const ListenerOptions& options, std::shared_ptr<const Routes> routes)
    : core_(std::make_shared<Core>()) {
    core_->options = options;
    core_->routes = std::move(routes);
    Poco::Net::initializeSSL();
    if (options.tls()) core_->context = serverContext(options);
    Poco::Net::SocketAddress address;
    try {
        address = Poco::Net::SocketAddress(options.address);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("invalid listen address '" + options.address + "': " + e.displayText());
    }
    if (options.loops) {
        core_->loops = options.loops;
    } else {
        core_->ownLoops = std::make_unique<io::EventLoops>("http-" + options.name, options.ioThreads);
        core_->loops = core_->ownLoops.get();
    }
    const auto loops = core_->loops->size();
    for (std::size_t i = 0; i < loops; ++i) {
        auto perLoop = std::make_unique<LoopConnections>();
        perLoop->loop = &core_->loops->at(i);
        perLoop->limit = std::max<std::size_t>(1, options.maxConnections / loops);
        core_->perLoop.push_back(std::move(perLoop));
    }
    try {
        core_->listener = std::make_unique<io::Listener>(
            core_->loops->at(0), address,
            [core = core_.get()](Poco::Net::StreamSocket socket) { core->accept(std::move(socket)); });
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("cannot listen on " + options.address + ": " + e.displayText());
    }
    core_->workers =
        std::make_unique<io::WorkerPool>("http-" + options.name + " worker", options.workers, options.queue);
}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::start() {
    core_->listener->start();
    running_ = true;
}

void HttpServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    auto& core = *core_;
    core.stopping = true;
    const auto deadline = std::chrono::steady_clock::now() + core.options.stopGrace;
    core.listener->close(); // new connections are refused, not left waiting in the backlog
    if (running_) {
        std::unique_lock lock(core.inFlightMutex);
        core.inFlightDone.wait_until(lock, deadline, [&] { return core.inFlight == 0; });
    }
    // Idle keep-alive connections wait for a request that will not come; past the deadline,
    // requests still running and clients half-way through sending one are cut off too.
    for (auto& perLoop : core.perLoop) {
        std::promise<void> closed;
        perLoop->loop->post([&] {
            std::vector<std::shared_ptr<Connection>> open;
            for (auto& [raw, connection] : perLoop->open)
                open.push_back(connection);
            for (auto& connection : open)
                connection->close("stopped");
            closed.set_value();
        });
        closed.get_future().wait();
    }
    core.workers->stop(); // handlers still running finish; their answers find no connection
    if (core.ownLoops) core.ownLoops->stop();
}

bool HttpServer::stopping() const {
    return core_->stopping;
}

bool HttpServer::tls() const {
    return static_cast<bool>(core_->context);
}

std::uint16_t HttpServer::port() const {
    return core_->listener->port();
}

std::size_t HttpServer::openConnections() const {
    return core_->openConnections.load(std::memory_order_relaxed);
}

std::size_t HttpServer::queuedRequests() const {
    return core_->workers->queued();
}

} // namespace sideband::http
