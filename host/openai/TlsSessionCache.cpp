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
    if (latest_) SSL_SESSION_free(latest_);
}

int TlsSessionCache::onNewSession(SSL* ssl, SSL_SESSION* session) {
    auto* cache = static_cast<TlsSessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cacheIndex()));
    if (!cache || !SSL_SESSION_is_resumable(session)) return 0;
    cache->remember(session);
    return 1; // the reference OpenSSL passed is ours now
}

void TlsSessionCache::remember(SSL_SESSION* session) {
    SSL_SESSION* previous = nullptr;
    {
        std::lock_guard lock(mutex_);
        previous = latest_;
        latest_ = session;
    }
    if (previous) SSL_SESSION_free(previous);
}

Poco::Net::Session::Ptr TlsSessionCache::latest() const {
    std::lock_guard lock(mutex_);
    if (!latest_ || !SSL_SESSION_up_ref(latest_)) return {};
    return new AdoptedSession(latest_);
}

} // namespace sideband::openai
