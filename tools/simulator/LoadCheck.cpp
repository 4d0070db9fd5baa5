// sideband-sim-load: checks the simulator itself under the benchmark's shape - N concurrent sideband
// WebSockets, each getting a function call every few seconds - with in-process clients that answer
// as soon as each response completes, so the reported round trips are the simulator's own overhead
// plus its response.done delay (the floor under any host).
//   sideband-sim-load [--sessions N] [--seconds S] [--interval-ms I] [--tls-cert C --tls-key K --ca-file F]
#include "RealtimeSimulator.h"

#include "core/Json.h"

#include <Poco/Buffer.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/PollSet.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/WebSocket.h>

#include <sys/resource.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

using namespace sideband::simulator;

namespace {

struct Client {
    std::unique_ptr<Poco::Net::WebSocket> socket;
    std::string callId;
};

std::unique_ptr<Poco::Net::WebSocket> connect(unsigned short port, const std::string& callId,
                                              const std::string& caFile) {
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (caFile.empty()) {
        session = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    } else {
        Poco::Net::Context::Params params;
        params.caLocation = caFile;
        params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
        session = std::make_unique<Poco::Net::HTTPSClientSession>(
            "127.0.0.1", port, new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params));
    }
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, "/v1/realtime?call_id=" + callId,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    Poco::Net::HTTPResponse response;
    auto socket = std::make_unique<Poco::Net::WebSocket>(*session, request, response);
    socket->setReceiveTimeout(Poco::Timespan(2, 0));
    return socket;
}

// One thread answers every function call on its share of the sockets, as a perfectly fast host would.
void answerLoop(std::vector<Client>& clients, std::atomic<bool>& running, std::atomic<long>& answered) {
    Poco::Net::PollSet pollSet;
    std::map<const void*, Client*> byImpl;
    for (auto& client : clients) {
        pollSet.add(*client.socket, Poco::Net::PollSet::POLL_READ);
        byImpl[client.socket->impl()] = &client;
    }
    Poco::Buffer<char> buffer(0);
    // `force`: epoll said the kernel has bytes; over TLS available() only counts already-decrypted ones.
    auto drain = [&](Client& client, bool force) {
        while (force || client.socket->available() > 0) {
            force = false;
            buffer.resize(0);
            int flags = 0;
            const int n = client.socket->receiveFrame(buffer, flags);
            if (n <= 0 || (flags & Poco::Net::WebSocket::FRAME_OP_BITMASK) != Poco::Net::WebSocket::FRAME_OP_TEXT)
                return;
            const std::string text(buffer.begin(), buffer.size());
            // The turn protocol: run the calls once their response completed, send every output,
            // then one response.create.
            if (text.find("\"response.done\"") == std::string::npos ||
                text.find("\"function_call\"") == std::string::npos)
                continue;
            Poco::JSON::Parser parser;
            const auto response = parser.parse(text).extract<Poco::JSON::Object::Ptr>()->getObject("response");
            if (!response || response->getValue<std::string>("status") != "completed") continue;
            const auto items = response->getArray("output");
            for (std::size_t i = 0; items && i < items->size(); ++i) {
                const auto item = items->getObject(i);
                if (!item || item->getValue<std::string>("type") != "function_call") continue;
                const auto output = R"({"type":"conversation.item.create","item":{"type":"function_call_output",)"
                                    R"("call_id":")" +
                                    item->getValue<std::string>("call_id") + R"(","output":"{\"ok\":true}"}})";
                client.socket->sendFrame(output.data(), static_cast<int>(output.size()));
                ++answered;
            }
            const std::string create = R"({"type":"response.create"})";
            client.socket->sendFrame(create.data(), static_cast<int>(create.size()));
        }
    };
    // The client's HTTP session may have read the first frames together with the 101 answer; they
    // sit in the WebSocket's own buffer, where epoll cannot see them.
    for (auto& client : clients)
        drain(client, false);
    while (running) {
        for (const auto& [socket, mode] : pollSet.poll(Poco::Timespan(0, 100000))) {
            (void)mode;
            drain(*byImpl[socket.impl()], true);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> args;
    for (int i = 1; i + 1 < argc; i += 2)
        args[argv[i]] = argv[i + 1];
    auto get = [&](const std::string& name, const std::string& fallback) {
        return args.count(name) ? args[name] : fallback;
    };
    const int sessions = std::stoi(get("--sessions", "2000"));
    const int seconds = std::stoi(get("--seconds", "20"));
    const int intervalMs = std::stoi(get("--interval-ms", "3000"));
    const int clientThreads = std::stoi(get("--client-threads", "2"));

    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max; // both ends of every socket live in this process
    setrlimit(RLIMIT_NOFILE, &limit);
    Poco::Net::initializeSSL();

    SimulatorOptions options;
    options.tlsCert = get("--tls-cert", "");
    options.tlsKey = get("--tls-key", "");
    const auto caFile = get("--ca-file", "");
    RealtimeSimulator simulator(options);
    simulator.start();

    // Every call: wait a random-ish offset, then a function call every interval, for the whole run.
    const int rounds = std::max(1, seconds * 1000 / intervalMs) + 100; // outlasts connect + warm-up
    std::vector<std::shared_ptr<const CallScript>> scripts;
    for (int offset = 0; offset < 10; ++offset) {
        auto script = std::make_shared<CallScript>(
            parseCallScript(R"([{"wait_ms":)" + std::to_string(offset * intervalMs / 10) + R"(},{"repeat":{"times":)" +
                            std::to_string(rounds) +
                            R"(,"steps":[{"function_call":{"name":"tick","arguments":{"n":1},"timeout_ms":10000}},)" +
                            R"({"wait_ms":)" + std::to_string(intervalMs) + "}]}}]"));
        scripts.push_back(script);
    }

    std::vector<Client> clients(sessions);
    const auto connectStart = std::chrono::steady_clock::now();
    for (int i = 0; i < sessions; ++i) {
        clients[i].callId = "rtc_load_" + std::to_string(i);
        simulator.setScript(clients[i].callId, scripts[i % scripts.size()]);
        clients[i].socket = connect(simulator.port(), clients[i].callId, caFile);
    }
    const auto connectMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - connectStart).count();
    std::cout << "connected " << sessions << " sideband sockets (" << (caFile.empty() ? "plain" : "TLS") << ") in "
              << connectMs << " ms; open on the simulator: " << simulator.openSessions() << std::endl;

    std::atomic<bool> running{true};
    std::atomic<long> answered{0};
    std::vector<std::vector<Client>> shares(clientThreads);
    for (int i = 0; i < sessions; ++i)
        shares[i % clientThreads].push_back(std::move(clients[i]));
    std::vector<std::thread> threads;
    for (auto& share : shares)
        threads.emplace_back([&] { answerLoop(share, running, answered); });

    // Calls that fired while later sockets were still connecting waited for a client thread that did
    // not exist yet: measure only once every socket is being answered.
    std::this_thread::sleep_for(std::chrono::milliseconds(intervalMs));
    simulator.resetRoundTrips();
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    const auto stats = simulator.roundTripStats();
    const auto resumes = simulator.resumeStats();
    std::cout << "after " << seconds << " s: open " << simulator.openSessions() << ", round trips " << stats.count
              << ", timeouts " << stats.timeouts << ", p50 " << stats.p50.count() << " us, p90 " << stats.p90.count()
              << " us, p99 " << stats.p99.count() << " us, max " << stats.max.count() << " us; resumes "
              << resumes.count << ", dead air " << resumes.timeouts << ", p50 " << resumes.p50.count() << " us, p99 "
              << resumes.p99.count() << " us (includes the " << options.responseDoneDelay.count()
              << " ms response.done delay)" << std::endl;
    running = false;
    for (auto& thread : threads)
        thread.join();
    simulator.stop();
    return stats.timeouts == 0 && stats.count > 0 ? 0 : 1;
}
