// bench-sessions: holds N concurrent simulated calls on a running sideband-host (a child process of
// bench/run.sh) and reports what they cost it. The Realtime simulator runs in this process on
// --sim-listen (the host's OPENAI_BASE_URL points there). Calls are placed by signed
// realtime.call.incoming webhooks (WebhookSender, one TLS connection each) at --ramp-rate; each
// call's script is: wait a per-call offset, then repeat {function_call echo, wait --interval-ms},
// then hang up. Once every call's sideband socket is open and a settle time passed, the tool round
// trips (simulator: first function-call event written -> function_call_output read) and the resumes
// (first function-call event written -> the host's accepted response.create after all outputs: the
// tool's delay as the caller hears it, including the simulator's 20 ms response.done delay) are
// measured for --window seconds while /proc/PID/status (Threads, VmRSS) is sampled every second.
// Then every call is hung up (abruptly, as OpenAI often does) and the host's RSS is read again.
//   OPENAI_WEBHOOK_SECRET=... SIDEBAND_SIM_API_KEY=... bench-sessions --host-url URL --ca-file F
//       --tls-cert C --tls-key K --sim-listen 127.0.0.1:P --host-pid PID --calls N [--ramp-rate 100]
//       [--window 30] [--interval-ms 3000] [--to +18005550100] [--sender-threads 8]
#include "RealtimeSimulator.h"
#include "WebhookSender.h"

#include <Poco/Net/SSLManager.h>

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace sideband::simulator;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct ProcSample {
    long threads = 0;
    long rssKb = 0;
    long fds = 0;
};

ProcSample sample(int pid) {
    ProcSample s;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        std::istringstream in(line);
        std::string key;
        in >> key;
        if (key == "Threads:") in >> s.threads;
        else if (key == "VmRSS:") in >> s.rssKb;
    }
    if (DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (readdir(dir)) ++s.fds;
        closedir(dir);
        s.fds -= 2; // . and ..
    }
    return s;
}

} // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> args;
    for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
    auto get = [&](const std::string& name, const std::string& fallback) {
        return args.count(name) ? args[name] : fallback;
    };
    const char* secret = std::getenv("OPENAI_WEBHOOK_SECRET");
    if (!secret || !args.count("--host-url") || !args.count("--host-pid")) {
        std::cerr << "usage: see the comment at the top of bench/tools/SessionsDriver.cpp\n";
        return 64;
    }
    const int calls = std::stoi(get("--calls", "100"));
    const double rampRate = std::stod(get("--ramp-rate", "100"));
    const int windowSeconds = std::min(600, std::stoi(get("--window", "30")));
    const int intervalMs = std::max(100, std::stoi(get("--interval-ms", "3000")));
    const int senderThreads = std::max(1, std::stoi(get("--sender-threads", "8")));
    const int hostPid = std::stoi(args["--host-pid"]);
    const auto to = get("--to", "+18005550100");

    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    Poco::Net::initializeSSL();

    SimulatorOptions options;
    options.listen = get("--sim-listen", "127.0.0.1:0");
    options.tlsCert = get("--tls-cert", "");
    options.tlsKey = get("--tls-key", "");
    options.httpThreads = 32;
    options.reactorLoops = 2;
    // The model's pace: response.done this long after a function call's last event. Default 0, as a
    // response whose last item is a function call ends at once: the resume figure is then the host's
    // own time (wait for response.done, run the tool, send the output and one response.create).
    options.responseDoneDelay = std::chrono::milliseconds(std::stoi(get("--response-done-delay-ms", "0")));
    if (const char* key = std::getenv("SIDEBAND_SIM_API_KEY")) options.expectedApiKey = key;
    RealtimeSimulator simulator(options);
    simulator.start();

    WebhookSenderOptions senderOptions;
    senderOptions.url = args["--host-url"];
    senderOptions.caFile = get("--ca-file", "");
    senderOptions.secret = secret;
    const WebhookSender sender(senderOptions);

    const auto idle = sample(hostPid);
    std::printf("host idle: threads %ld, RSS %.1f MiB, fds %ld\n", idle.threads, idle.rssKb / 1024.0, idle.fds);

    // The script outlasts ramp + settle + window; the driver hangs every call up after the window.
    const double rampSeconds = calls / rampRate;
    const int rounds = static_cast<int>((rampSeconds + windowSeconds + 60) * 1000 / intervalMs) + 1;
    std::vector<std::shared_ptr<const CallScript>> scripts;
    for (int offset = 0; offset < 10; ++offset)
        scripts.push_back(std::make_shared<CallScript>(parseCallScript(
            R"([{"wait_ms":)" + std::to_string(offset * intervalMs / 10) + R"(},{"repeat":{"times":)" +
            std::to_string(rounds) +
            R"(,"steps":[{"function_call":{"name":"echo","arguments":{"text":"hi"},"timeout_ms":10000}},)" +
            R"({"wait_ms":)" + std::to_string(intervalMs) + R"(}]}},{"hangup":"caller","close_frame":false}])")));

    // Ramp: call i is due at start + i / rate, spread over the sender threads.
    std::atomic<int> accepted{0}, refused{0}, failed{0};
    std::mutex errorMutex;
    std::map<std::string, int> errors;
    const auto rampStart = Clock::now();
    std::vector<std::thread> senders;
    for (int t = 0; t < senderThreads; ++t) {
        senders.emplace_back([&, t] {
            for (int i = t; i < calls; i += senderThreads) {
                std::this_thread::sleep_until(
                    rampStart + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rampRate)));
                IncomingCall call;
                call.callId = "rtc_bench_" + std::to_string(i);
                call.to = to;
                call.fromName = "Bench Caller";
                simulator.setScript(call.callId, scripts[i % scripts.size()]);
                const auto delivery = sender.deliver(makeIncomingCallEvent(call));
                if (delivery.status == 200 && delivery.body.find("\"accepted\":true") != std::string::npos) {
                    ++accepted;
                } else {
                    delivery.status == 200 ? ++refused : ++failed;
                    std::lock_guard lock(errorMutex);
                    ++errors[std::to_string(delivery.status) + " " + delivery.body.substr(0, 80) + delivery.error];
                }
            }
        });
    }
    for (auto& thread : senders) thread.join();
    const double rampTook = std::chrono::duration<double>(Clock::now() - rampStart).count();
    std::printf("ramp: %d calls in %.1f s: %d accepted, %d answered without accept, %d failed\n", calls, rampTook,
                accepted.load(), refused.load(), failed.load());
    for (const auto& [error, n] : errors) std::printf("  %d x %s\n", n, error.c_str());

    const auto openDeadline = Clock::now() + 60s;
    while (simulator.openSessions() < static_cast<std::size_t>(accepted) && Clock::now() < openDeadline)
        std::this_thread::sleep_for(100ms);
    std::printf("open sideband sockets: %zu\n", simulator.openSessions());

    std::this_thread::sleep_for(std::chrono::milliseconds(intervalMs)); // every call past its first tool call
    simulator.resetRoundTrips();
    ProcSample peak;
    long rssSum = 0, samples = 0;
    std::size_t minOpen = simulator.openSessions();
    const auto windowEnd = Clock::now() + std::chrono::seconds(windowSeconds);
    while (Clock::now() < windowEnd) {
        std::this_thread::sleep_for(1s);
        const auto s = sample(hostPid);
        peak.threads = std::max(peak.threads, s.threads);
        peak.rssKb = std::max(peak.rssKb, s.rssKb);
        peak.fds = std::max(peak.fds, s.fds);
        rssSum += s.rssKb;
        ++samples;
        minOpen = std::min(minOpen, simulator.openSessions());
    }
    const auto stats = simulator.roundTripStats();
    const auto resumes = simulator.resumeStats(); // timeouts: dead air
    const auto turns = simulator.turnStats();
    const auto held = simulator.openSessions();
    const double rssMeanKb = samples ? double(rssSum) / samples : 0;

    // A turn-protocol fault (dead air, a refused response.create) is a finding: show the first few.
    int shown = 0;
    for (const auto& session : simulator.sessions()) {
        const auto failures = session->failures();
        if (failures.empty() || shown++ >= 3) continue;
        std::printf("call %s: %s\n", session->callId().c_str(), failures.front().c_str());
        // The trace around the first line naming the response the failure is about (else its end).
        const auto trace = session->trace();
        const auto origin = trace.empty() ? SteadyTime{} : trace.front().at;
        const auto at = failures.front().find("resp_");
        const auto response = at == std::string::npos
                                  ? std::string()
                                  : failures.front().substr(at, failures.front().find_first_of(": ", at) - at);
        std::size_t first = trace.size() > 40 ? trace.size() - 40 : 0;
        for (std::size_t i = 0; !response.empty() && i < trace.size(); ++i)
            if (trace[i].text.find(response) != std::string::npos) {
                first = i > 8 ? i - 8 : 0;
                break;
            }
        for (std::size_t i = first; i < std::min(trace.size(), first + 40); ++i)
            std::printf("  %8.3f %s\n", std::chrono::duration<double, std::milli>(trace[i].at - origin).count(),
                        trace[i].text.c_str());
    }
    for (const auto& session : simulator.sessions())
        if (session->isConnected()) session->hangup(CloseMode::Abrupt);
    const auto closeDeadline = Clock::now() + 30s;
    while (simulator.openSessions() > 0 && Clock::now() < closeDeadline) std::this_thread::sleep_for(100ms);
    std::this_thread::sleep_for(3s);
    const auto after = sample(hostPid);
    simulator.stop();

    const double perCallKb = held ? (peak.rssKb - idle.rssKb) / double(held) : 0;
    std::printf("BENCH calls=%d accepted=%d held=%zu min_held=%zu idle_threads=%ld threads=%ld idle_rss_mib=%.1f "
                "rss_mib=%.1f rss_mean_mib=%.1f per_call_kib=%.1f fds=%ld round_trips=%zu timeouts=%zu "
                "rt_p50_ms=%.3f rt_p90_ms=%.3f rt_p99_ms=%.3f rt_max_ms=%.3f resumes=%zu dead_air=%zu "
                "resume_p50_ms=%.3f resume_p99_ms=%.3f refused_creates=%zu after_hangup_rss_mib=%.1f "
                "after_hangup_threads=%ld ramp_s=%.1f\n",
                calls, accepted.load(), held, minOpen, idle.threads, peak.threads, idle.rssKb / 1024.0,
                peak.rssKb / 1024.0, rssMeanKb / 1024.0, perCallKb, peak.fds, stats.count, stats.timeouts,
                stats.p50.count() / 1000.0, stats.p90.count() / 1000.0, stats.p99.count() / 1000.0,
                stats.max.count() / 1000.0, resumes.count, resumes.timeouts, resumes.p50.count() / 1000.0,
                resumes.p99.count() / 1000.0, turns.responseCreatesRefused, after.rssKb / 1024.0, after.threads,
                rampTook);
    return 0;
}
