#pragma once

#include "http/HttpEndpoint.h"

#include <Poco/Net/HTTPServer.h>
#include <Poco/ThreadPool.h>

#include <memory>
#include <string>

namespace sideband::http {

struct ListenerOptions {
    std::string address = "0.0.0.0:8443"; // host:port; port 0 picks a free one
    std::string tlsCertFile;              // both set -> HTTPS
    std::string tlsKeyFile;
    int threads = 32;
    int queue = 512;
    bool tls() const { return !tlsCertFile.empty(); }
};

// A Poco HTTPServer (HTTPS with NetSSL when a certificate is configured) serving a route table.
// Throws with an actionable message when the address cannot be bound or the TLS files are bad.
class HttpServer {
public:
    HttpServer(const ListenerOptions& options, std::shared_ptr<const Routes> routes);
    ~HttpServer();

    void start();
    void stop();
    std::uint16_t port() const;
    bool tls() const { return tls_; }

private:
    bool tls_;
    std::unique_ptr<Poco::ThreadPool> pool_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    std::uint16_t port_ = 0;
    bool running_ = false;
};

} // namespace sideband::http
