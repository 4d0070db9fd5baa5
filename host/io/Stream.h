#pragma once

#include "io/EventLoop.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <memory>
#include <string>
#include <string_view>

namespace sideband::io {

class Stream;

// What a stream's protocol (HTTP, WebSocket) hears from it, always on the stream's loop.
class StreamHandler {
public:
    virtual ~StreamHandler() = default;
    // The stream is usable: the TLS handshake (if any) is done.
    virtual void onOpen(Stream&) {}
    // New bytes were appended to `inbox`; erase what was consumed. Pause reading to apply back-pressure.
    virtual void onData(Stream& stream, std::string& inbox) = 0;
    // The outbox has been written out completely (also once before a closeAfterWrite() lingers).
    virtual void onDrained(Stream&) {}
    // The peer has finished sending (a FIN, or TLS close_notify) and onData has had all it sent.
    // True keeps the stream open for writing (answers still to come; the handler ends it with
    // closeAfterWrite()); false, the default, closes it now as "eof".
    virtual bool onPeerFinished(Stream&) { return false; }
    // Exactly once, after which the stream does nothing more. `reason`: "eof", "reset", "closed", ...
    virtual void onClosed(Stream& stream, const std::string& reason) = 0;
};

// One non-blocking connection (plain TCP or TLS through Poco's SecureStreamSocket) owned by one
// loop: reads into an inbox, writes from an outbox, performs the TLS handshake without blocking
// (completeHandshake() and ERR_SSL_WANT_READ/WRITE), and drains what OpenSSL has buffered after
// every readable event. Every method runs on the loop's thread (checked in debug builds).
class Stream final : public EventHandler, public std::enable_shared_from_this<Stream> {
public:
    enum class Tls { None, Server, Client };

    // Takes a connected socket. With Tls::Server/Client the handshake is performed by the loop
    // unless `handshakeDone` (a client socket whose handshake a connector already ran).
    static std::shared_ptr<Stream> create(EventLoop& loop, Poco::Net::StreamSocket socket, Tls tls,
                                          Poco::Net::Context::Ptr context, StreamHandler& handler);
    static std::shared_ptr<Stream> adoptSecure(EventLoop& loop, Poco::Net::SecureStreamSocket socket,
                                               Poco::Net::StreamSocket tcp, StreamHandler& handler);
    ~Stream() override;

    // Registers with the loop and starts the handshake or reading. Loop thread.
    void open();
    void write(std::string_view bytes);
    // Writes the outbox, then closes: TLS close_notify, FIN, and a short wait for the peer's FIN so
    // a client still sending does not get a reset that destroys the answer before it reads it.
    void closeAfterWrite();
    // Closes at once (deadline passed, protocol error, stop).
    void abort(const std::string& reason);
    void pauseReading();
    void resumeReading();
    // TCP keepalive: a peer gone without a FIN is noticed even on a connection we only read.
    void enableKeepAlive(int idleSeconds, int intervalSeconds, int probes);

    bool isOpen() const { return state_ != State::Closed; }
    std::size_t outboxSize() const { return outbox_.size() - outboxOffset_; }
    std::string& inbox() { return inbox_; }
    EventLoop& loop() { return loop_; }
    int fd() const { return fd_; }

    void onEvents(std::uint32_t events) override;
    void onLoopStopping() override { finishClose("stopped"); }

private:
    enum class State { Created, Handshaking, Open, Closing, Lingering, Closed };

    Stream(EventLoop& loop, Poco::Net::StreamSocket tcp, StreamHandler& handler);
    void continueHandshake();
    void readAvailable();
    void peerFinished(bool delivered);
    void flush();
    void updateInterest();
    void finishClose(const std::string& reason);
    int receive(char* buffer, int length);  // > 0 bytes, 0 EOF, -1 would block (wantWrite_ set for TLS)
    int send(const char* data, int length); // >= 0 bytes written, -1 would block

    EventLoop& loop_;
    StreamHandler& handler_;
    Poco::Net::StreamSocket tcp_;                        // the TCP socket: blocking mode, keepalive, shutdown
    std::unique_ptr<Poco::Net::SecureStreamSocket> tls_; // over tcp_ when TLS
    int fd_ = -1;
    State state_ = State::Created;
    bool readPaused_ = false;
    bool peerFinished_ = false; // the peer sent its FIN; we may still write
    bool writeFailed_ = false; // the peer is gone; only what it sent before remains to be read
    bool wantWrite_ = false;    // TLS wants the socket writable to go on (handshake or a read)
    std::uint32_t interest_ = 0;
    std::string inbox_;
    std::string outbox_;
    std::size_t outboxOffset_ = 0;
    EventLoop::TimerId lingerTimer_ = 0;
    std::shared_ptr<Stream> self_; // registered with the loop: alive until closed
};

} // namespace sideband::io
