#include "http/HttpServer.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerConnection.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/TCPServerConnectionFactory.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>

#include <sys/socket.h>

namespace sideband::http {

// The requests in progress and the open connections' sockets. stop() ends connections with a raw
// shutdown(2) of their sockets: that wakes their threads without touching TLS state those threads
// own (Poco's HTTPServer::stopAll(true) runs SSL_shutdown from the stopping thread, racing the
// connection's own thread, and can lose an answer already written).
struct HttpServer::Connections {
    std::mutex mutex;
    std::condition_variable idle;
    int activeRequests = 0;
    std::map<const Poco::Net::SocketImpl*, Poco::Net::StreamSocket> open; // holds each fd until its connection ends
    std::atomic<bool> stopping{false};

    void shutdownAll() {
        std::lock_guard lock(mutex);
        for (auto& [impl, socket] : open)
            ::shutdown(socket.impl()->sockfd(), SHUT_RDWR);
    }
};

namespace {

class RoutedHandler final : public Poco::Net::HTTPRequestHandler {
public:
    RoutedHandler(std::shared_ptr<const Routes> routes, std::shared_ptr<HttpServer::Connections> connections)
        : routes_(std::move(routes)), connections_(std::move(connections)) {}
    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        {
            std::lock_guard lock(connections_->mutex);
            ++connections_->activeRequests;
        }
        struct Done {
            HttpServer::Connections& connections;
            ~Done() {
                std::lock_guard lock(connections.mutex);
                if (--connections.activeRequests == 0) connections.idle.notify_all();
            }
        } done{*connections_};
        // While stopping, this answer is the connection's last: stop() waits for it, then closes the rest.
        if (connections_->stopping) response.setKeepAlive(false);
        routes_->dispatch(request, response);
    }

private:
    std::shared_ptr<const Routes> routes_;
    std::shared_ptr<HttpServer::Connections> connections_;
};

class RoutedHandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    RoutedHandlerFactory(std::shared_ptr<const Routes> routes, std::shared_ptr<HttpServer::Connections> connections)
        : routes_(std::move(routes)), connections_(std::move(connections)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new RoutedHandler(routes_, connections_);
    }

private:
    std::shared_ptr<const Routes> routes_;
    std::shared_ptr<HttpServer::Connections> connections_;
};

// Poco's HTTPServerConnection, registered with the open connections while it lives.
class TrackedConnection final : public Poco::Net::HTTPServerConnection {
public:
    TrackedConnection(const Poco::Net::StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params,
                      Poco::Net::HTTPRequestHandlerFactory::Ptr handlers,
                      std::shared_ptr<HttpServer::Connections> connections)
        : HTTPServerConnection(socket, std::move(params), std::move(handlers)), connections_(std::move(connections)) {
        std::lock_guard lock(connections_->mutex);
        connections_->open.emplace(this->socket().impl(), this->socket());
    }
    ~TrackedConnection() override {
        std::lock_guard lock(connections_->mutex);
        connections_->open.erase(socket().impl());
    }

private:
    std::shared_ptr<HttpServer::Connections> connections_;
};

class TrackedConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
public:
    TrackedConnectionFactory(Poco::Net::HTTPServerParams::Ptr params,
                             Poco::Net::HTTPRequestHandlerFactory::Ptr handlers,
                             std::shared_ptr<HttpServer::Connections> connections)
        : params_(std::move(params)), handlers_(std::move(handlers)), connections_(std::move(connections)) {}
    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
        return new TrackedConnection(socket, params_, handlers_, connections_);
    }

private:
    Poco::Net::HTTPServerParams::Ptr params_;
    Poco::Net::HTTPRequestHandlerFactory::Ptr handlers_;
    std::shared_ptr<HttpServer::Connections> connections_;
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
    return context;
}

Poco::Net::ServerSocket bind(const ListenerOptions& options, Poco::Net::Context::Ptr context) {
    Poco::Net::SocketAddress address;
    try {
        address = Poco::Net::SocketAddress(options.address);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("invalid listen address '" + options.address + "': " + e.displayText());
    }
    try {
        if (context) return Poco::Net::SecureServerSocket(address, 128, context);
        return Poco::Net::ServerSocket(address, 128);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("cannot listen on " + options.address + ": " + e.displayText());
    }
}

} // namespace

HttpServer::HttpServer(const ListenerOptions& options, std::shared_ptr<const Routes> routes)
    : tls_(options.tls()), stopGrace_(options.stopGrace), connections_(std::make_shared<Connections>()) {
    Poco::Net::initializeSSL();
    listener_ = bind(options, tls_ ? serverContext(options) : nullptr);
    port_ = listener_.address().port();

    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options.threads);
    params->setMaxQueued(options.queue);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0); // unlimited: OpenAI and load balancers reuse connections
    params->setKeepAliveTimeout(Poco::Timespan(15, 0));
    params->setTimeout(Poco::Timespan(std::chrono::microseconds(options.requestTimeout).count()));
    pool_ = std::make_unique<Poco::ThreadPool>(2, options.threads, 60);
    Poco::Net::HTTPServerParams::Ptr shared(params);
    Poco::Net::HTTPRequestHandlerFactory::Ptr handlers(new RoutedHandlerFactory(std::move(routes), connections_));
    server_ = std::make_unique<Poco::Net::TCPServer>(new TrackedConnectionFactory(shared, handlers, connections_),
                                                     *pool_, listener_, shared);
}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::start() {
    server_->start();
    running_ = true;
}

void HttpServer::stop() {
    if (!running_) return;
    running_ = false;
    connections_->stopping = true;
    const auto deadline = std::chrono::steady_clock::now() + stopGrace_;
    server_->stop();   // the acceptor has ended
    listener_.close(); // new connections are refused, not left waiting in the backlog
    {
        std::unique_lock lock(connections_->mutex);
        connections_->idle.wait_until(lock, deadline, [&] { return connections_->activeRequests == 0; });
    }
    // Idle keep-alive connections wait for a next request that will not come; past the deadline,
    // requests still running and clients half-way through sending one are cut off too.
    connections_->shutdownAll();
    pool_->joinAll();
}

bool HttpServer::stopping() const {
    return connections_->stopping;
}

std::uint16_t HttpServer::port() const {
    return port_;
}

} // namespace sideband::http
