#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/Session.h>

#include <deque>
#include <mutex>

struct ssl_st;
struct ssl_session_st;

namespace sideband::openai {

// Keeps the TLS session tickets servers handed to connections made with one client context, so
// later connections resume: no certificate chain to send, parse and verify again. The sideband
// opens one connection per call; resuming is what makes that cheap. Each ticket is offered once
// (RFC 8446 section C.4: servers may treat tickets as single-use); a full handshake brings two
// new ones and a resumption one more, so a pool of the newest few keeps concurrent connects fed.
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

    // The newest unused ticket, removed from the pool; null when there is none (full handshake).
    Poco::Net::Session::Ptr take();

private:
    static int onNewSession(ssl_st* ssl, ssl_session_st* session);
    void remember(ssl_session_st* session);

    Poco::Net::Context::Ptr context_;
    static constexpr std::size_t kMaxTickets = 16;
    std::mutex mutex_;
    std::deque<ssl_session_st*> tickets_; // newest at the back; owns one reference each
};

} // namespace sideband::openai
