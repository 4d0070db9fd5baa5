#include "io/Stream.h"

#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sideband::io {
namespace {

constexpr int kReadChunk = 16 * 1024;
// After our last byte and FIN, how long a closing connection waits for the peer's FIN.
constexpr auto kLinger = std::chrono::seconds(2);

// Thousands of calls sit idle between messages: a buffer that grew for one large message is
// given back rather than kept for the life of the connection.
void releaseIfLarge(std::string& buffer) {
    if (buffer.capacity() > 4096)
        std::string().swap(buffer);
    else
        buffer.clear();
}

bool peerGone(const Poco::Exception& e) {
    return e.code() == EPIPE || e.code() == ECONNRESET || dynamic_cast<const Poco::Net::ConnectionResetException*>(&e);
}

} // namespace

Stream::Stream(EventLoop& loop, Poco::Net::StreamSocket tcp, StreamHandler& handler)
    : loop_(loop), handler_(handler), tcp_(std::move(tcp)), fd_(static_cast<int>(tcp_.impl()->sockfd())) {}

std::shared_ptr<Stream> Stream::create(EventLoop& loop, Poco::Net::StreamSocket socket, Tls tls,
                                       Poco::Net::Context::Ptr context, StreamHandler& handler) {
    // Non-blocking before TLS wraps it: Poco's TLS layer asks this socket whether to wait, and a
    // blocking one would make it poll inside a read.
    socket.setBlocking(false);
    try {
        socket.setNoDelay(true);
    } catch (const Poco::Exception&) {
        // A Unix socket (a plugin runner's socketpair) has no Nagle to turn off.
    }
    std::shared_ptr<Stream> stream(new Stream(loop, socket, handler));
    if (tls != Tls::None) {
        stream->tls_ = std::make_unique<Poco::Net::SecureStreamSocket>(
            Poco::Net::SecureStreamSocket::attach(socket, std::move(context)));
        stream->state_ = State::Handshaking;
    }
    return stream;
}

std::shared_ptr<Stream> Stream::adoptSecure(EventLoop& loop, Poco::Net::SecureStreamSocket socket,
                                            Poco::Net::StreamSocket tcp, StreamHandler& handler) {
    tcp.setBlocking(false);
    std::shared_ptr<Stream> stream(new Stream(loop, tcp, handler));
    stream->tls_ = std::make_unique<Poco::Net::SecureStreamSocket>(std::move(socket));
    return stream;
}

Stream::~Stream() = default;

void Stream::open() {
    loop_.assertInLoop();
    // open() may read, and a handler reacting to what it reads may drop its last reference to us
    // (a runner's load_failed read at once makes the runner abort and release its stream).
    auto keep = shared_from_this();
    self_ = keep;
    interest_ = EPOLLIN | EPOLLRDHUP;
    loop_.add(fd_, interest_, this);
    if (state_ == State::Handshaking) {
        continueHandshake();
    } else {
        state_ = State::Open;
        handler_.onOpen(*this);
        if (state_ == State::Open) readAvailable(); // bytes that arrived before we registered
    }
}

void Stream::enableKeepAlive(int idleSeconds, int intervalSeconds, int probes) {
    loop_.assertInLoop();
    try {
        tcp_.setKeepAlive(true);
        tcp_.setOption(IPPROTO_TCP, TCP_KEEPIDLE, idleSeconds);
        tcp_.setOption(IPPROTO_TCP, TCP_KEEPINTVL, intervalSeconds);
        tcp_.setOption(IPPROTO_TCP, TCP_KEEPCNT, probes);
    } catch (const Poco::Exception&) {
        // Not every socket type takes every option; the loop's own deadlines still apply.
    }
}

void Stream::continueHandshake() {
    int rc = 0;
    try {
        rc = tls_->completeHandshake();
    } catch (const Poco::Exception& e) {
        return finishClose("tls_handshake_failed: " + e.message());
    }
    if (rc == 1) {
        state_ = State::Open;
        wantWrite_ = false;
        updateInterest();
        handler_.onOpen(*this);
        if (state_ == State::Open) readAvailable(); // application data may have come with the last flight
        return;
    }
    if (rc == 0) return finishClose("eof"); // the peer left during the handshake
    wantWrite_ = rc == Poco::Net::SecureStreamSocket::ERR_SSL_WANT_WRITE;
    updateInterest();
}

int Stream::receive(char* buffer, int length) {
    if (!tls_) {
        const int n = tcp_.receiveBytes(buffer, length);
        return n < 0 ? -1 : n;
    }
    const int n = tls_->receiveBytes(buffer, length);
    if (n == Poco::Net::SecureStreamSocket::ERR_SSL_WANT_READ) return -1;
    if (n == Poco::Net::SecureStreamSocket::ERR_SSL_WANT_WRITE) {
        wantWrite_ = true;
        return -1;
    }
    return n < 0 ? -1 : n;
}

int Stream::send(const char* data, int length) {
    if (!tls_) {
        // Not Poco's sendBytes: it throws on a full non-blocking socket (EAGAIN), which would end
        // every answer larger than the socket buffer. MSG_NOSIGNAL: a peer that has gone is an
        // error for this stream, not a SIGPIPE for the process.
        for (;;) {
            const auto n = ::send(fd_, data, static_cast<std::size_t>(length), MSG_NOSIGNAL);
            if (n >= 0) return static_cast<int>(n);
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
            throw Poco::IOException(std::strerror(errno), errno);
        }
    }
    const int n = tls_->sendBytes(data, length);
    return n < 0 ? -1 : n;
}

void Stream::readAvailable() {
    char buffer[kReadChunk];
    bool got = false;
    // Until the kernel and OpenSSL are both empty: level-triggered epoll says nothing about bytes
    // OpenSSL has already decrypted and holds.
    // A lingering stream reads (and discards) whatever comes until the peer's FIN, paused or not:
    // otherwise its readiness would wake the loop again and again until the linger timer.
    while ((state_ == State::Open && !readPaused_ && !peerFinished_) || state_ == State::Lingering) {
        int n = 0;
        try {
            n = receive(buffer, sizeof buffer);
        } catch (const Poco::Exception& e) {
            // OpenSSL 3 reports a TCP close without close_notify as an error; for us it is an end
            // of stream like any other (HTTP and WebSocket frame their own messages).
            const bool eof = e.message().find("unexpected eof") != std::string::npos;
            if (state_ == State::Lingering) return finishClose("closed");
            if (eof) return peerFinished(got);
            // What arrived before the reset is still the peer's last word (a transcript, a tool
            // call before a hang-up): hand it over first.
            if (got && state_ == State::Open) handler_.onData(*this, inbox_);
            return finishClose(peerGone(e) ? "reset" : "read_error: " + e.message());
        }
        if (n < 0) break;
        if (n == 0) return state_ == State::Lingering ? finishClose("closed") : peerFinished(got);
        if (state_ == State::Lingering) continue; // discarded: the answer is out, we only wait for FIN
        inbox_.append(buffer, static_cast<std::size_t>(n));
        got = true;
        // A short read means the kernel had no more. OpenSSL reads no further ahead than the record
        // it decrypts (read-ahead is off), so what it holds is only that record's rest (available()):
        // anything later is still in the kernel, where level-triggered epoll sees it. This saves
        // one read() that would only say EAGAIN on every request.
        if (n < static_cast<int>(sizeof buffer) && (!tls_ || tls_->available() == 0)) break;
    }
    if (got && state_ == State::Open) handler_.onData(*this, inbox_);
    if (inbox_.empty()) releaseIfLarge(inbox_);
}

void Stream::peerFinished(bool delivered) {
    // What came before the FIN first: a request followed by a half-close still gets its answer.
    if (delivered && state_ == State::Open) handler_.onData(*this, inbox_);
    if (state_ != State::Open) return;
    if (!handler_.onPeerFinished(*this)) return finishClose("eof");
    peerFinished_ = true;
    updateInterest(); // nothing more to read; level-triggered EPOLLIN/EPOLLRDHUP would fire forever
}

void Stream::write(std::string_view bytes) {
    loop_.assertInLoop();
    if ((state_ != State::Open && state_ != State::Handshaking) || writeFailed_) return;
    outbox_.append(bytes.data(), bytes.size());
    if (state_ == State::Open) flush();
}

void Stream::flush() {
    while (outboxSize() > 0) {
        const auto pending = std::min<std::size_t>(outboxSize(), 256 * 1024);
        int n = 0;
        try {
            n = send(outbox_.data() + outboxOffset_, static_cast<int>(pending));
        } catch (const Poco::Exception& e) {
            if (!peerGone(e)) return finishClose("write_error: " + e.message());
            // A peer that left while we wrote (EPIPE, ECONNRESET) is a reset, not a fault of ours;
            // what it sent before leaving (a caller's last words) is still read and handed over.
            writeFailed_ = true;
            if (state_ == State::Open && !readPaused_) readAvailable();
            return finishClose("reset");
        }
        if (n < 0) break;
        outboxOffset_ += static_cast<std::size_t>(n);
    }
    if (outboxSize() == 0) {
        releaseIfLarge(outbox_);
        outboxOffset_ = 0;
    } else if (outboxOffset_ > 64 * 1024) {
        outbox_.erase(0, outboxOffset_);
        outboxOffset_ = 0;
    }
    updateInterest();
    if (outboxSize() == 0) {
        if (state_ == State::Closing) {
            // Our answer is out: say goodbye (TLS close_notify, then FIN), and read until the peer's
            // FIN so its unread request bytes do not turn our close into a reset.
            try {
                if (tls_) tls_->shutdown();
                tcp_.shutdownSend();
            } catch (const Poco::Exception&) {
            }
            state_ = State::Lingering;
            updateInterest();
            handler_.onDrained(*this); // the answer is out; the linger is only politeness
            auto weak = weak_from_this();
            lingerTimer_ = loop_.runAfter(kLinger, [weak] {
                if (auto self = weak.lock()) self->finishClose("linger_timeout"); // no FIN came
            });
            // What is already buffered (the FIN, OpenSSL's bytes) is read on the loop's next turn,
            // not here: this runs inside the handler's own call, which a close would pull from under it.
            loop_.post([weak] {
                if (auto self = weak.lock(); self && self->state_ == State::Lingering) self->readAvailable();
            });
        } else if (state_ == State::Open) {
            handler_.onDrained(*this);
        }
    }
}

void Stream::updateInterest() {
    if (state_ == State::Closed || state_ == State::Created) return;
    std::uint32_t wanted = 0;
    // EPOLLRDHUP only with EPOLLIN: a FIN is read as the end of the stream. Asked for while paused
    // (or after the FIN) it would wake the loop again and again for as long as the pause lasts.
    const bool reading = state_ == State::Lingering || state_ == State::Handshaking ||
                         (state_ == State::Open && !readPaused_ && !peerFinished_);
    if (reading) wanted |= EPOLLIN | EPOLLRDHUP;
    if (outboxSize() > 0 || wantWrite_) wanted |= EPOLLOUT;
    if (wanted != interest_) {
        interest_ = wanted;
        loop_.modify(fd_, interest_, this);
    }
}

void Stream::onEvents(std::uint32_t events) {
    auto keep = shared_from_this();
    if (state_ == State::Handshaking) {
        if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) return finishClose("reset");
        return continueHandshake();
    }
    // Reads before writes: a peer that sent its last words and then reset the connection is heard
    // out first (a failed write would close the stream with those bytes still unread).
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if ((readPaused_ || peerFinished_) && state_ == State::Open) {
            // Not reading now; a peer that has gone still ends the stream.
            if (events & (EPOLLHUP | EPOLLERR)) return finishClose("reset");
        } else {
            readAvailable();
        }
        if (state_ == State::Closed) return;
    }
    if (events & EPOLLOUT) {
        wantWrite_ = false;
        flush();
        if (state_ == State::Closed) return;
    }
    // Still writing our last bytes to a peer that has gone: nothing will ever drain them.
    if (state_ == State::Closing && (events & (EPOLLHUP | EPOLLERR))) finishClose("reset");
}

void Stream::pauseReading() {
    loop_.assertInLoop();
    if (readPaused_) return;
    readPaused_ = true;
    updateInterest();
}

void Stream::resumeReading() {
    loop_.assertInLoop();
    if (!readPaused_) return;
    readPaused_ = false;
    updateInterest();
    // OpenSSL may hold decrypted bytes no epoll event will announce: read them now.
    auto weak = weak_from_this();
    loop_.post([weak] {
        if (auto self = weak.lock(); self && !self->readPaused_ && self->state_ == State::Open) self->readAvailable();
    });
}

void Stream::closeAfterWrite() {
    loop_.assertInLoop();
    if (state_ != State::Open && state_ != State::Handshaking) return;
    if (state_ == State::Handshaking) return abort("closed");
    state_ = State::Closing;
    readPaused_ = true;
    flush();
}

void Stream::abort(const std::string& reason) {
    loop_.assertInLoop();
    finishClose(reason);
}

void Stream::finishClose(const std::string& reason) {
    if (state_ == State::Closed) return;
    auto keep = shared_from_this();
    const bool wasRegistered = state_ != State::Created;
    state_ = State::Closed;
    if (lingerTimer_) loop_.cancel(lingerTimer_);
    if (wasRegistered) loop_.remove(fd_);
    try {
        // No TLS goodbye here: an aborted stream just ends (abort() only shuts the TCP connection
        // down). The SSL object goes now, while the descriptor is still ours: its destructor calls
        // SSL_shutdown, which writes a close_notify (EPIPE after abort()) to the descriptor number it
        // holds. Destroyed later, after tcp_.close(), it wrote into whatever socket had been given
        // that number meanwhile (ThreadSanitizer: ~Stream writing to an fd that a REST client on a
        // worker had just opened).
        if (tls_) {
            tls_->abort();
            tls_.reset();
        }
        tcp_.close();
    } catch (const Poco::Exception&) {
    }
    inbox_.clear();
    outbox_.clear();
    outboxOffset_ = 0;
    handler_.onClosed(*this, reason);
    self_.reset();
}

} // namespace sideband::io
