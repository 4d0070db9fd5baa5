#pragma once

#include "http/HttpEndpoint.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

namespace sideband::metrics {
class MetricsRegistry;
}
namespace sideband::io {
class EventLoops;
class Listener;
class WorkerPool;
} // namespace sideband::io

namespace sideband::http {

struct ListenerOptions {
    std::string name = "main";            // the `listener` label of its metrics
    std::string address = "0.0.0.0:8443"; // host:port; port 0 picks a free one
    std::string tlsCertFile;              // both set -> HTTPS
    std::string tlsKeyFile;
    int ioThreads = 1;                      // event loops owning the connections, unless `loops` is given
    int workers = 16;                       // threads running the Worker routes (a webhook waits on OpenAI there)
    std::size_t queue = 1024;               // complete requests waiting for a worker; beyond it: 503 + Retry-After
    std::size_t maxConnections = 10000;     // over it the oldest idle connection is closed for a new one
    std::size_t maxHeadBytes = 16 * 1024;   // request line + headers; over it: 431
    std::size_t maxBodyBytes = 1024 * 1024; // over it: 413
    // Deadlines, each measured whole (not per read).
    std::chrono::milliseconds tlsHandshakeTimeout{10000}; // from accept
    std::chrono::milliseconds headTimeout{10000};         // from a request's first byte to its last header
    std::chrono::milliseconds bodyTimeout{30000};         // from the headers to the body's last byte; also
                                                          // how long a client may take to read an answer
    std::chrono::milliseconds idleTimeout{60000};         // a kept-alive connection waiting for a request
    // How long stop() lets requests in progress finish before closing every connection.
    std::chrono::milliseconds stopGrace{5000};
    metrics::MetricsRegistry* metrics = nullptr; // counts closes per reason and 503s, when set
    io::EventLoops* loops = nullptr;             // shared with the sessions; null: the server runs ioThreads of its own
    bool tls() const { return !tlsCertFile.empty(); }
};

// HTTP/1.1 server on event loops: the loops own every connection (TLS handshake, reads, writes,
// deadlines) and parse requests with Node's http-parser; only complete requests reach a route,
// inline on the loop or on a bounded worker pool (RunOn). A connection costs memory, not a thread.
// Keep-alive, pipelining (answered in order), Content-Length and chunked bodies and
// `Expect: 100-continue` are supported; a body is always read whole or the connection closed.
//
// Throws with an actionable message when the address cannot be bound or the TLS files are bad.
// stop() takes no new connections, lets the requests in progress answer (up to stopGrace; their
// connections close after the answer), then closes every connection left.
class HttpServer {
public:
    HttpServer(const ListenerOptions& options, std::shared_ptr<const Routes> routes);
    ~HttpServer();

    void start();
    void stop();
    std::uint16_t port() const;
    bool tls() const;
    bool stopping() const;

    // Live figures (for /metrics and tests).
    std::size_t openConnections() const;
    std::size_t queuedRequests() const;

    struct Core; // shared with the connections

private:
    std::shared_ptr<Core> core_;
    bool running_ = false;
    bool stopped_ = false;
};

} // namespace sideband::http
