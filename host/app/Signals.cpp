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
}

int waitForSignal() {
    const auto set = serviceSignals();
    int signo = 0;
    while (sigwait(&set, &signo) != 0) {
    }
    return signo;
}

} // namespace sideband::signals
