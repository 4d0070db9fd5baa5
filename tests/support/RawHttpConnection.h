#pragma once

#include <Poco/Net/StreamSocket.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace sideband::testing {

struct RawResponse {
    std::string statusLine;                     // "HTTP/1.1 404 Not Found"
    std::map<std::string, std::string> headers; // lower-case names
    std::string body;

    bool has(const std::string& lowerName) const { return headers.count(lowerName) > 0; }
};

// One client connection on 127.0.0.1 whose bytes the test writes itself, so what a normal client
// hides stays visible: pipelining, a body the server did not read, a request dripping in, who
// closed first. Over TLS (a CA file given) it verifies the server; plain TCP otherwise.
class RawHttpConnection {
public:
    explicit RawHttpConnection(std::uint16_t port, const std::string& caFile = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~RawHttpConnection();

    void send(std::string_view bytes);
    // One byte at a time with `gap` between them (each byte its own TCP segment).
    void sendSlowly(std::string_view bytes, std::chrono::milliseconds gap);
    // A TCP half-close (FIN; over TLS without close_notify): nothing more will be sent, answers
    // can still be read.
    void finishSending();

    // The next answer on the connection (`toHead`: the answer to a HEAD, which has no body).
    // Throws when the connection closes or the timeout passes before it is whole.
    RawResponse readResponse(bool toHead = false);
    // True once the server has closed the connection (end of stream, reset, TLS error) with no
    // more bytes to read first; false when an answer arrives instead or `within` passes.
    bool closedByServer(std::chrono::milliseconds within = std::chrono::seconds(10));
    // Whether the server has closed its side by now; reads nothing (no TLS call), waits for nothing.
    bool serverHasClosed() const;

    Poco::Net::StreamSocket& socket() { return *socket_; }

private:
    bool fill(); // appends what arrives to buffer_; false at the end of the stream

    std::unique_ptr<Poco::Net::StreamSocket> socket_;
    std::string buffer_; // received, not yet returned
};

// A request with a Content-Length body (and `extraHeaders`, each ending in CRLF).
std::string rawRequest(const std::string& method, const std::string& target, const std::string& body = {},
                       const std::string& extraHeaders = {});
// The same request with its body in chunks of `chunkSize` bytes.
std::string rawChunkedRequest(const std::string& method, const std::string& target, const std::string& body,
                              std::size_t chunkSize = 4);

} // namespace sideband::testing
