#include "app/Signals.h"

#include <csignal>
#include <initializer_list>
#include <pthread.h>

namespace sideband::signals {
namespace {

sigset_t serviceSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int signo : {SIGINT, SIGTERM, SIGQUIT, SIGHUP}) sigaddset(&set, signo);
    return set;
}

} // namespace

void blockServiceSignals() {
    const auto set = serviceSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // A write to a socket the peer already dropped (a caller hanging up mid-frame, through
    // OpenSSL's plain write()) must be an error on that call, not the end of the process.
    std::signal(SIGPIPE, SIG_IGN);
}

int waitForSignal() {
    const auto set = serviceSignals();
    int signo = 0;
    while (sigwait(&set, &signo) != 0) {
    }
    return signo;
}

} // namespace sideband::signals
