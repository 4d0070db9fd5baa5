#include "io/Listener.h"

#include <Poco/Net/NetException.h>

#include <spdlog/spdlog.h>

#include <sys/epoll.h>

#include <cerrno>
#include <future>

namespace sideband::io {
namespace {

constexpr int kBacklog = 4096;
constexpr int kMaxAcceptsPerEvent = 256; // then let the loop serve the connections it already has

} // namespace

Listener::Listener(EventLoop& loop, const Poco::Net::SocketAddress& address, AcceptHandler onAccept)
    : loop_(loop), onAccept_(std::move(onAccept)) {
    socket_.bind(address, true);
    socket_.listen(kBacklog);
    socket_.setBlocking(false);
    port_ = socket_.address().port();
}

Listener::~Listener() {
    close();
}

void Listener::start() {
    loop_.post([this] {
        loop_.add(static_cast<int>(socket_.impl()->sockfd()), EPOLLIN, this);
        registered_ = true;
    });
}

void Listener::close() {
    auto done = [this] {
        if (registered_) loop_.remove(static_cast<int>(socket_.impl()->sockfd()));
        registered_ = false;
        socket_.close();
    };
    if (loop_.inLoopThread() || !loop_.running()) return done();
    std::promise<void> closed;
    loop_.post([&] {
        done();
        closed.set_value();
    });
    closed.get_future().wait();
}

void Listener::onEvents(std::uint32_t) {
    for (int i = 0; i < kMaxAcceptsPerEvent; ++i) {
        Poco::Net::StreamSocket accepted;
        try {
            Poco::Net::SocketAddress peer;
            accepted = socket_.acceptConnection(peer);
        } catch (const Poco::Exception& e) {
            const int error = e.code();
            if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
                // Out of descriptors: the backlog waits. Level-triggered epoll would spin on it, so
                // look again shortly.
                spdlog::warn("accept failed: {} (retrying in 100 ms)", e.displayText());
                const int fd = static_cast<int>(socket_.impl()->sockfd());
                loop_.remove(fd);
                loop_.runAfter(std::chrono::milliseconds(100), [this, fd] {
                    if (registered_) loop_.add(fd, EPOLLIN, this);
                });
            }
            return;
        }
        onAccept_(std::move(accepted));
    }
}

} // namespace sideband::io
