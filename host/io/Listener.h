#pragma once

#include "io/EventLoop.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <functional>

namespace sideband::io {

// A non-blocking listening socket on one loop: each readiness event accepts every connection
// waiting in the backlog and hands it to `onAccept` (on the loop's thread).
class Listener final : public EventHandler {
public:
    using AcceptHandler = std::function<void(Poco::Net::StreamSocket)>;

    // Binds (throws Poco::Exception when it cannot). Not yet accepting: see start().
    Listener(EventLoop& loop, const Poco::Net::SocketAddress& address, AcceptHandler onAccept);
    ~Listener() override;

    std::uint16_t port() const { return port_; }
    void start(); // any thread: registers on the loop
    // Any thread: stops accepting and closes the socket (new connections are refused, not queued);
    // returns once done.
    void close();

    void onEvents(std::uint32_t events) override;

private:
    EventLoop& loop_;
    Poco::Net::ServerSocket socket_;
    AcceptHandler onAccept_;
    std::uint16_t port_ = 0;
    bool registered_ = false;
};

} // namespace sideband::io
