// bench-sim: the Realtime simulator as the fake OpenAI REST server for the incoming-call benchmark.
// Answers accept/reject/... with 200 and, with --refuse-sessions 1, refuses every sideband WebSocket
// with 403, so the host ends the session and frees the call's slot at once (a steady state at any
// call rate). Stops on SIGTERM/SIGINT or after --seconds; prints the REST counts it saw.
// With --refuse-sessions 0 every sideband socket is accepted and, with no script, stays open and quiet
// until the host closes it (whole calls held by the host; --record-traffic 0 keeps no event texts).
//   bench-sim --listen 127.0.0.1:PORT --tls-cert C --tls-key K [--http-threads 256] [--refuse-sessions 1]
//             [--record-traffic 1] [--seconds 600]          (SIDEBAND_SIM_API_KEY: the bearer key to expect)
#include "RealtimeSimulator.h"

#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

using namespace sideband::simulator;

int main(int argc, char** argv) {
    std::map<std::string, std::string> args;
    for (int i = 1; i + 1 < argc; i += 2)
        args[argv[i]] = argv[i + 1];
    auto get = [&](const std::string& name, const std::string& fallback) {
        return args.count(name) ? args[name] : fallback;
    };
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);

    // Block the stop signals in every thread; main waits for them.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGTERM);
    sigaddset(&stopSignals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

    SimulatorOptions options;
    options.listen = get("--listen", "127.0.0.1:0");
    options.tlsCert = get("--tls-cert", "");
    options.tlsKey = get("--tls-key", "");
    options.httpThreads = std::stoi(get("--http-threads", "256"));
    options.recordTraffic = get("--record-traffic", "1") == "1";
    if (const char* key = std::getenv("SIDEBAND_SIM_API_KEY")) options.expectedApiKey = key;
    RealtimeSimulator simulator(options);
    simulator.start();
    if (get("--refuse-sessions", "1") == "1") simulator.refuseSessions(true, 403);
    std::cout << "bench-sim listening on " << simulator.baseUrl() << std::endl;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::stoi(get("--seconds", "600")));
    std::map<std::string, std::size_t> counts; // "action status" -> requests
    timespec tick{1, 0};
    while (std::chrono::steady_clock::now() < deadline) {
        const int signal = sigtimedwait(&stopSignals, nullptr, &tick);
        // Fold and forget the recorded requests (the simulator keeps every one otherwise).
        auto requests = simulator.restRequests();
        simulator.clearRestRequests();
        for (const auto& request : requests)
            ++counts[request.action + " " + std::to_string(request.status)];
        if (signal > 0) break;
    }
    const auto openAtEnd = simulator.openSessions();
    simulator.stop();
    std::cout << "bench-sim REST:";
    for (const auto& [key, n] : counts)
        std::cout << " [" << key << "]=" << n;
    std::cout << "; sideband sockets refused: " << simulator.refusedSessions()
              << " (over a resumed TLS session: " << simulator.resumedTlsUpgrades()
              << "); sideband sockets accepted: " << simulator.sessions().size()
              << ", open at the end: " << openAtEnd << std::endl;
    return 0;
}
