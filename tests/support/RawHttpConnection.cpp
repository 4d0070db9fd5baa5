#include "RawHttpConnection.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/String.h>

#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace sideband::testing {
namespace {

// One verifying client context per CA file: loading the CA for every connection is slow.
Poco::Net::Context::Ptr clientContext(const std::string& caFile) {
    static std::mutex mutex;
    static std::map<std::string, Poco::Net::Context::Ptr> byCaFile;
    std::lock_guard lock(mutex);
    auto& context = byCaFile[caFile];
    if (!context) {
        Poco::Net::initializeSSL();
        Poco::Net::Context::Params params;
        params.caLocation = caFile;
        params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
        context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    }
    return context;
}

// What arrived so far, short enough for a failure message.
std::string excerpt(const std::string& bytes) {
    if (bytes.size() <= 200) return "'" + bytes + "'";
    return "'" + bytes.substr(0, 200) + "...' (" + std::to_string(bytes.size()) + " bytes)";
}

Poco::Timespan timespan(std::chrono::milliseconds duration) {
    return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(duration.count()) * 1000);
}

} // namespace

RawHttpConnection::RawHttpConnection(std::uint16_t port, const std::string& caFile, std::chrono::milliseconds timeout) {
    const Poco::Net::SocketAddress address("127.0.0.1", port);
    if (caFile.empty())
        socket_ = std::make_unique<Poco::Net::StreamSocket>(address);
    else
        socket_ = std::make_unique<Poco::Net::SecureStreamSocket>(address, clientContext(caFile));
    socket_->setNoDelay(true);
    socket_->setReceiveTimeout(timespan(timeout));
    socket_->setSendTimeout(timespan(timeout));
}

RawHttpConnection::~RawHttpConnection() {
    try {
        socket_->close();
    } catch (const Poco::Exception&) {
    }
}

void RawHttpConnection::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const int sent = socket_->sendBytes(bytes.data(), static_cast<int>(bytes.size()));
        if (sent <= 0) throw std::runtime_error("the connection no longer takes bytes");
        bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
}

void RawHttpConnection::sendSlowly(std::string_view bytes, std::chrono::milliseconds gap) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i > 0) std::this_thread::sleep_for(gap);
        send(bytes.substr(i, 1));
    }
}

void RawHttpConnection::finishSending() {
    // Not Poco's shutdownSend: over TLS it shuts the socket down both ways.
    ::shutdown(static_cast<int>(socket_->impl()->sockfd()), SHUT_WR);
}

bool RawHttpConnection::fill() {
    char chunk[16 * 1024];
    const int n = socket_->receiveBytes(chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
}

RawResponse RawHttpConnection::readResponse(bool toHead) {
    std::size_t headEnd;
    while ((headEnd = buffer_.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) throw std::runtime_error("closed before a whole answer; got " + excerpt(buffer_));
    RawResponse response;
    const std::string head = buffer_.substr(0, headEnd);
    buffer_.erase(0, headEnd + 4);
    std::size_t lineEnd = head.find("\r\n");
    response.statusLine = head.substr(0, lineEnd);
    while (lineEnd != std::string::npos) {
        const auto start = lineEnd + 2;
        lineEnd = head.find("\r\n", start);
        const auto line = head.substr(start, lineEnd == std::string::npos ? std::string::npos : lineEnd - start);
        const auto colon = line.find(':');
        if (colon == std::string::npos) throw std::runtime_error("malformed header line: " + line);
        response.headers[Poco::toLower(line.substr(0, colon))] = Poco::trim(line.substr(colon + 1));
    }
    const bool interim = response.statusLine.rfind("HTTP/1.1 1", 0) == 0;
    if (toHead || interim || !response.has("content-length")) return response;
    const auto length = std::stoul(response.headers.at("content-length"));
    while (buffer_.size() < length)
        if (!fill()) throw std::runtime_error("closed in the middle of a body; got " + excerpt(buffer_));
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
}

bool RawHttpConnection::closedByServer(std::chrono::milliseconds within) {
    if (!buffer_.empty()) return false;
    const auto timeout = socket_->getReceiveTimeout();
    socket_->setReceiveTimeout(timespan(within));
    bool closed = false;
    try {
        closed = !fill();
    } catch (const Poco::TimeoutException&) {
        closed = false;
    } catch (const Poco::Exception&) {
        closed = true; // reset, or TLS ended without close_notify
    }
    socket_->setReceiveTimeout(timeout);
    return closed;
}

bool RawHttpConnection::serverHasClosed() const {
    pollfd descriptor{static_cast<int>(socket_->impl()->sockfd()), POLLRDHUP, 0};
    return ::poll(&descriptor, 1, 0) > 0 && (descriptor.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::string rawRequest(const std::string& method, const std::string& target, const std::string& body,
                       const std::string& extraHeaders) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extraHeaders;
    if (!body.empty() || method == "POST" || method == "PUT")
        request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return request + "\r\n" + body;
}

std::string rawChunkedRequest(const std::string& method, const std::string& target, const std::string& body,
                              std::size_t chunkSize) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    char size[32];
    for (std::size_t at = 0; at < body.size(); at += chunkSize) {
        const auto chunk = body.substr(at, chunkSize);
        std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
        request += size + chunk + "\r\n";
    }
    return request + "0\r\n\r\n";
}

} // namespace sideband::testing
