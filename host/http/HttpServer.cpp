#include "http/HttpServer.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include <stdexcept>

namespace sideband::http {
namespace {

class RoutedHandler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit RoutedHandler(std::shared_ptr<const Routes> routes) : routes_(std::move(routes)) {}
    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        routes_->dispatch(request, response);
    }

private:
    std::shared_ptr<const Routes> routes_;
};

class RoutedHandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit RoutedHandlerFactory(std::shared_ptr<const Routes> routes) : routes_(std::move(routes)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new RoutedHandler(routes_);
    }

private:
    std::shared_ptr<const Routes> routes_;
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
        throw std::runtime_error("cannot load TLS certificate/key (" + options.tlsCertFile + ", " +
                                 options.tlsKeyFile + "): " + e.displayText());
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

HttpServer::HttpServer(const ListenerOptions& options, std::shared_ptr<const Routes> routes) : tls_(options.tls()) {
    Poco::Net::initializeSSL();
    auto socket = bind(options, tls_ ? serverContext(options) : nullptr);
    port_ = socket.address().port();

    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options.threads);
    params->setMaxQueued(options.queue);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0); // unlimited: OpenAI and load balancers reuse connections
    params->setKeepAliveTimeout(Poco::Timespan(15, 0));
    params->setTimeout(Poco::Timespan(30, 0));
    pool_ = std::make_unique<Poco::ThreadPool>(2, options.threads, 60);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new RoutedHandlerFactory(std::move(routes)), *pool_, socket,
                                                      params);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
    server_->start();
    running_ = true;
}

void HttpServer::stop() {
    if (!running_) return;
    running_ = false;
    server_->stopAll(true);
    pool_->joinAll();
}

std::uint16_t HttpServer::port() const { return port_; }

} // namespace sideband::http
