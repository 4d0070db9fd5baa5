#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/Session.h>

#include <mutex>

struct ssl_st;
struct ssl_session_st;

namespace sideband::openai {

// Keeps the newest TLS session ticket the server handed to connections made with one client
// context, so the next connection resumes it: no certificate chain to send, parse and verify
// again. The sideband opens one connection per call; resuming is what makes that cheap.
// TLS 1.3 tickets arrive after the handshake, which is why this listens for them (OpenSSL's
// new-session callback) instead of asking a socket for its session right after connecting.
class TlsSessionCache {
public:
    // Turns on client-side session caching for the context and starts listening on it.
    // The context must outlive this object and be used by no other TlsSessionCache.
    explicit TlsSessionCache(const Poco::Net::Context::Ptr& context);
    ~TlsSessionCache();
    TlsSessionCache(const TlsSessionCache&) = delete;
    TlsSessionCache& operator=(const TlsSessionCache&) = delete;

    // The session to offer on the next connect; null before any server sent a ticket.
    Poco::Net::Session::Ptr latest() const;

private:
    static int onNewSession(ssl_st* ssl, ssl_session_st* session);
    void remember(ssl_session_st* session);

    Poco::Net::Context::Ptr context_;
    mutable std::mutex mutex_;
    ssl_session_st* latest_ = nullptr; // owns one reference
};

} // namespace sideband::openai
