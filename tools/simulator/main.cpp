// sideband-sim: plays OpenAI's side of Realtime SIP calls on 127.0.0.1 (see docs/simulator.md).
#include "RealtimeSimulator.h"
#include "ScenarioRunner.h"
#include "WebhookSender.h"
#include "core/Logging.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace sideband::simulator;

namespace {

constexpr int kUsageError = 2;

void usage(std::ostream& out) {
    out << "usage:\n"
           "  sideband-sim serve [--listen ADDR | --port P] [--tls-cert C --tls-key K] [--api-key K] [--strict]\n"
           "                     [--scenario FILE] [--webrtc-script FILE] [--reactor-loops N] [NETWORK] [--quiet]\n"
           "  sideband-sim run SCENARIO.json --webhook-url URL [--ca-file F] [--listen ADDR | --port P]\n"
           "                     [--tls-cert C --tls-key K] [--api-key K] [--strict] [--webrtc-script FILE]\n"
           "                     [NETWORK] [--quiet]\n"
           "  sideband-sim check SCENARIO.json\n"
           "\n"
           "NETWORK (a hostile network for every call): --split-frames (each frame to the host as 1-byte\n"
           "writes) [--split-frame-delay-ms N] (between bytes, default 1), --ping-interval-ms N (a PING\n"
           "to the host every N ms; default 0: none). The model's pace: --response-done-delay-ms N\n"
           "(response.done this long after a response's last item, default 20).\n"
           "\n"
           "--webrtc-script FILE: what calls created over WebRTC (POST /v1/realtime/calls) run on their\n"
           "sideband: a steps array, or {\"steps\", \"connect\", \"split_frames\", \"rest_faults\"}. Default:\n"
           "the agent greets and the model calls the session's first tool once.\n"
           "\n"
           "The webhook secret comes from OPENAI_WEBHOOK_SECRET (never the command line). The expected API\n"
           "key may also come from SIDEBAND_SIM_API_KEY, which `ps` does not show. Point the host's\n"
           "OPENAI_BASE_URL at the printed base URL.\n";
}

struct Arguments {
    std::string command;
    std::string scenario;
    std::map<std::string, std::string> options;
    bool has(const std::string& name) const { return options.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = {}) const {
        const auto it = options.find(name);
        return it == options.end() ? fallback : it->second;
    }
};

bool parseArguments(int argc, char** argv, Arguments& args) {
    if (argc < 2) return false;
    args.command = argv[1];
    static const std::vector<std::string> flags = {"--strict", "--quiet", "--split-frames"};
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0) {
            if (!args.scenario.empty()) return false;
            args.scenario = arg;
        } else if (std::find(flags.begin(), flags.end(), arg) != flags.end()) {
            args.options[arg] = "1";
        } else if (i + 1 < argc) {
            args.options[arg] = argv[++i];
        } else {
            std::cerr << "sideband-sim: " << arg << " needs a value\n";
            return false;
        }
    }
    return true;
}

// Queues a scenario call's (or the WebRTC script's) REST faults; `callId` empty: for any call.
void queueFaults(RealtimeSimulator& simulator, const std::vector<RestFault>& faults, const std::string& callId) {
    for (const auto& fault : faults) {
        if (fault.delay.count() > 0) simulator.delayNext(fault.action, fault.delay, fault.times, callId);
        if (fault.status != 0) simulator.failNext(fault.action, fault.status, fault.times, callId);
    }
}

// `createFaults` receives the --webrtc-script's rest_faults, to queue once the simulator exists.
SimulatorOptions simulatorOptions(const Arguments& args, std::vector<RestFault>& createFaults) {
    SimulatorOptions options;
    if (args.has("--webrtc-script")) {
        auto created = loadCreatedCallScript(args.get("--webrtc-script"));
        options.createdCallScript = std::move(created.script);
        createFaults = std::move(created.restFaults);
    }
    options.listen = args.get("--listen", "127.0.0.1:" + args.get("--port", "0"));
    options.tlsCert = args.get("--tls-cert");
    options.tlsKey = args.get("--tls-key");
    options.expectedApiKey = args.get("--api-key");
    if (options.expectedApiKey.empty())
        if (const char* key = std::getenv("SIDEBAND_SIM_API_KEY")) options.expectedApiKey = key;
    options.strict = args.has("--strict");
    options.reactorLoops = std::stoi(args.get("--reactor-loops", "2"));
    options.splitFrames = args.has("--split-frames");
    options.splitFrameDelay = std::chrono::milliseconds(std::stoi(args.get("--split-frame-delay-ms", "1")));
    options.pingInterval = std::chrono::milliseconds(std::stoi(args.get("--ping-interval-ms", "0")));
    options.responseDoneDelay = std::chrono::milliseconds(std::stoi(args.get("--response-done-delay-ms", "20")));
    if (options.splitFrameDelay.count() < 0 || options.pingInterval.count() < 0 ||
        options.responseDoneDelay.count() < 0)
        throw std::invalid_argument(
            "--split-frame-delay-ms, --ping-interval-ms and --response-done-delay-ms must not be negative");
    if (options.tlsCert.empty() != options.tlsKey.empty())
        throw std::invalid_argument("--tls-cert and --tls-key go together");
    return options;
}

int serve(const Arguments& args) {
    // Block the stop signals before any thread starts, so only sigwait below receives them.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

    std::vector<RestFault> createFaults;
    auto options = simulatorOptions(args, createFaults);
    options.logTraffic = !args.has("--quiet");
    RealtimeSimulator simulator(options);
    queueFaults(simulator, createFaults, {});
    if (!args.scenario.empty() || args.has("--scenario")) {
        const auto scenario = loadScenario(args.has("--scenario") ? args.get("--scenario") : args.scenario);
        for (const auto& call : scenario.calls) {
            if (call.callId.empty()) {
                std::cerr << "sideband-sim: serve ignores call \"" << call.name << "\": it has no call_id\n";
                continue;
            }
            simulator.setScript(call.callId, call.script);
            queueFaults(simulator, call.restFaults, call.callId);
        }
    }
    simulator.start();
    std::cout << "sideband-sim: serving " << simulator.baseUrl() << std::endl;
    int signal = 0;
    sigwait(&stopSignals, &signal);
    spdlog::info("sideband-sim: stopping ({} REST requests, {} sessions)", simulator.restRequests().size(),
                 simulator.sessions().size());
    const auto stats = simulator.roundTripStats();
    if (stats.count)
        spdlog::info("sideband-sim: tool round trips {} p50 {} us p99 {} us max {} us, {} timeouts", stats.count,
                     stats.p50.count(), stats.p99.count(), stats.max.count(), stats.timeouts);
    const auto resumes = simulator.resumeStats();
    const auto turns = simulator.turnStats();
    if (resumes.count || resumes.timeouts)
        spdlog::info("sideband-sim: resumes (function call -> response.create) {} p50 {} us p99 {} us max {} us, "
                     "{} dead air",
                     resumes.count, resumes.p50.count(), resumes.p99.count(), resumes.max.count(), resumes.timeouts);
    spdlog::info("sideband-sim: responses {} completed, {} cancelled, {} failed, {} incomplete; response.create {} "
                 "accepted, {} refused, {} extra; {} barge-in violations",
                 turns.responsesCompleted, turns.responsesCancelled, turns.responsesFailed, turns.responsesIncomplete,
                 turns.responseCreatesAccepted, turns.responseCreatesRefused, turns.extraResponseCreates,
                 turns.bargeInViolations);
    simulator.stop();
    return 0;
}

int run(const Arguments& args) {
    if (args.scenario.empty() || !args.has("--webhook-url")) {
        usage(std::cerr);
        return kUsageError;
    }
    const auto scenario = loadScenario(args.scenario);
    const char* secret = std::getenv("OPENAI_WEBHOOK_SECRET");
    if (!secret || !*secret) {
        std::cerr << "sideband-sim: OPENAI_WEBHOOK_SECRET is not set (the webhook secret the host verifies)\n";
        return kUsageError;
    }
    WebhookSenderOptions senderOptions;
    senderOptions.url = args.get("--webhook-url");
    senderOptions.caFile = args.get("--ca-file");
    senderOptions.secret = secret;
    WebhookSender sender(senderOptions);

    std::vector<RestFault> createFaults;
    RealtimeSimulator simulator(simulatorOptions(args, createFaults));
    queueFaults(simulator, createFaults, {});
    simulator.start();
    std::cout << "sideband-sim: serving " << simulator.baseUrl() << " (the host's OPENAI_BASE_URL)" << std::endl;
    ScenarioRunner runner(simulator, sender, args.has("--quiet") ? nullptr : &std::cout);
    const auto report = runner.run(scenario);
    simulator.stop();

    std::cout << "\n";
    int failed = 0;
    for (const auto& call : report.calls) {
        std::cout << (call.passed ? "PASS " : "FAIL ") << call.name << " (" << call.callId << ")\n";
        for (const auto& failure : call.failures)
            std::cout << "     - " << failure << "\n";
        failed += call.passed ? 0 : 1;
    }
    const auto stats = simulator.roundTripStats();
    std::cout << report.calls.size() - failed << "/" << report.calls.size() << " calls passed";
    if (stats.count)
        std::cout << "; tool round trips: " << stats.count << ", p50 " << stats.p50.count() / 1000.0 << " ms, p99 "
                  << stats.p99.count() / 1000.0 << " ms";
    const auto resumes = simulator.resumeStats();
    if (resumes.count)
        std::cout << "; resumes (function call -> response.create): " << resumes.count << ", p50 "
                  << resumes.p50.count() / 1000.0 << " ms, p99 " << resumes.p99.count() / 1000.0 << " ms";
    if (resumes.timeouts) std::cout << "; dead air: " << resumes.timeouts;
    std::cout << std::endl;
    return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    Arguments args;
    if (!parseArguments(argc, argv, args)) {
        usage(std::cerr);
        return kUsageError;
    }
    sideband::logging::configure(sideband::logging::Format::Human, spdlog::level::info);
    try {
        if (args.command == "serve") return serve(args);
        if (args.command == "run") return run(args);
        if (args.command == "check") {
            const auto scenario = loadScenario(args.scenario);
            std::cout << args.scenario << ": " << scenario.calls.size() << " call(s), OK\n";
            return 0;
        }
        if (args.command == "--help" || args.command == "help") {
            usage(std::cout);
            return 0;
        }
        usage(std::cerr);
        return kUsageError;
    } catch (const ScenarioError& e) {
        std::cerr << "sideband-sim: scenario error: " << e.what() << "\n";
        return kUsageError;
    } catch (const std::exception& e) {
        std::cerr << "sideband-sim: " << e.what() << "\n";
        return 1;
    }
}
