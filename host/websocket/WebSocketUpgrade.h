#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/Session.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/URI.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sideband::websocket {

// The server answered the upgrade with something other than 101, or a bad accept key: not worth
// another attempt.
class UpgradeRefused : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A connected, upgraded client socket, ready to be handed to an event loop.
struct UpgradedSocket {
    Poco::Net::StreamSocket tcp;                        // the TCP socket (blocking mode lives here)
    std::unique_ptr<Poco::Net::SecureStreamSocket> tls; // over tcp for wss
    std::string leftover; // bytes after the 101 answer: the server's first frames may come with it
};

struct UpgradeRequest {
    Poco::URI uri; // ws:// or wss://, path and query included
    std::vector<std::pair<std::string, std::string>> headers;
    Poco::Net::Context::Ptr context;         // wss: a verifying client context
    Poco::Net::Session::Ptr session;         // wss: a TLS session to resume, or null
    std::chrono::milliseconds timeout{5000}; // the whole connect + handshake + upgrade
};

// Connects, performs the TLS handshake (certificate and host name verified) and the RFC 6455
// upgrade, blocking the calling thread (a connector, never a loop) for at most `timeout`. The
// answer is parsed with http-parser. Throws Poco exceptions for network failures (timeouts and
// refusals are worth a retry) and UpgradeRefused when the server says no.
UpgradedSocket upgrade(const UpgradeRequest& request);

} // namespace sideband::websocket
