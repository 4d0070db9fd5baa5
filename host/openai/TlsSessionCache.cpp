#include "openai/TlsSessionCache.h"

#include <openssl/ssl.h>

namespace sideband::openai {

namespace {

int cacheIndex() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// Poco::Net::Session's constructor is reserved to its sockets; this adopts one reference.
class AdoptedSession : public Poco::Net::Session {
public:
    explicit AdoptedSession(SSL_SESSION* session) : Session(session) {}
};

} // namespace

TlsSessionCache::TlsSessionCache(const Poco::Net::Context::Ptr& context) : context_(context) {
    // Poco offers a saved session on connect only when the context's cache is enabled.
    context_->enableSessionCache(true);
    SSL_CTX* ssl = context_->sslContext();
    // Clients never look sessions up in OpenSSL's internal store; keeping them there only grows it.
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_ex_data(ssl, cacheIndex(), this);
    SSL_CTX_sess_set_new_cb(ssl, &TlsSessionCache::onNewSession);
}

TlsSessionCache::~TlsSessionCache() {
    SSL_CTX* ssl = context_->sslContext();
    SSL_CTX_sess_set_new_cb(ssl, nullptr);
    SSL_CTX_set_ex_data(ssl, cacheIndex(), nullptr);
    for (SSL_SESSION* ticket : tickets_)
        SSL_SESSION_free(ticket);
}

int TlsSessionCache::onNewSession(SSL* ssl, SSL_SESSION* session) {
    auto* cache = static_cast<TlsSessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cacheIndex()));
    if (!cache || !SSL_SESSION_is_resumable(session)) return 0;
    cache->remember(session);
    return 1; // the reference OpenSSL passed is ours now
}

void TlsSessionCache::remember(SSL_SESSION* session) {
    SSL_SESSION* oldest = nullptr;
    {
        std::lock_guard lock(mutex_);
        tickets_.push_back(session);
        if (tickets_.size() > kMaxTickets) {
            oldest = tickets_.front();
            tickets_.pop_front();
        }
    }
    if (oldest) SSL_SESSION_free(oldest);
}

Poco::Net::Session::Ptr TlsSessionCache::take() {
    std::lock_guard lock(mutex_);
    if (tickets_.empty()) return {};
    SSL_SESSION* newest = tickets_.back();
    tickets_.pop_back();
    return new AdoptedSession(newest); // our reference moves into the Poco session
}

} // namespace sideband::openai
