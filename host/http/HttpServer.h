#pragma once

#include "http/HttpEndpoint.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>

#include <chrono>
#include <memory>
#include <string>

namespace sideband::http {

struct ListenerOptions {
    std::string address = "0.0.0.0:8443"; // host:port; port 0 picks a free one
    std::string tlsCertFile;              // both set -> HTTPS
    std::string tlsKeyFile;
    int threads = 32;
    int queue = 512;
    // How long a client may take to send a request (and the server to send its answer).
    std::chrono::milliseconds requestTimeout{30000};
    // How long stop() lets requests in progress finish before closing every connection.
    std::chrono::milliseconds stopGrace{5000};
    bool tls() const { return !tlsCertFile.empty(); }
};

// Poco's HTTP server connections on a TCPServer (HTTPS with NetSSL when a certificate is
// configured) serving a route table.
// Throws with an actionable message when the address cannot be bound or the TLS files are bad.
// stop() takes no new connections, lets the requests in progress answer (up to stopGrace; their
// connections close after the answer), then closes every connection left (idle keep-alives,
// and past the grace whatever still runs).
class HttpServer {
public:
    HttpServer(const ListenerOptions& options, std::shared_ptr<const Routes> routes);
    ~HttpServer();

    void start();
    void stop();
    std::uint16_t port() const;
    bool tls() const { return tls_; }
    bool stopping() const;

    struct Connections; // the open connections, the requests in progress, whether stop() has begun

private:
    bool tls_;
    std::chrono::milliseconds stopGrace_;
    std::shared_ptr<Connections> connections_;
    Poco::Net::ServerSocket listener_;
    std::unique_ptr<Poco::ThreadPool> pool_;
    std::unique_ptr<Poco::Net::TCPServer> server_; // serving Poco's HTTPServerConnection, tracked
    std::uint16_t port_ = 0;
    bool running_ = false;
};

} // namespace sideband::http
