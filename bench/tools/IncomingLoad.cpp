// bench-incoming-load: signed realtime.call.incoming deliveries at a constant rate over C HTTPS
// keep-alive connections (Poco), each delivery a fresh call id and event id, to a host whose tenant
// owns --to. Open loop: delivery k is due at start + k/rate; latency is measured from that due time
// (so a stalled host is not hidden by the generator waiting for it) and, separately, from the actual
// send. Prints figures; never judges them.
//   OPENAI_WEBHOOK_SECRET=... bench-incoming-load --url https://localhost:P/api/v1/openai/webhook
//       --ca-file ca.pem --rate 1000 --seconds 20 --connections 10 --to +18005550100 [--warmup-seconds 3]
//       [--samples FILE]
#include "WebhookSender.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace sideband::simulator;
using Clock = std::chrono::steady_clock;

namespace {

struct Sample {
    double dueMs;     // response time from the due time
    double serviceMs; // response time from the actual send
    double atSeconds; // the due time, from the start of the run
    int connection;
};

struct Shared {
    std::mutex mutex;
    std::vector<Sample> samples;
    std::map<int, long> statuses;
    long accepted = 0;
    long errors = 0;
    long late = 0; // sent more than 1 ms after its due time (the generator or the connection fell behind)
};

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(p / 100.0 * (values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

} // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> args;
    for (int i = 1; i + 1 < argc; i += 2)
        args[argv[i]] = argv[i + 1];
    auto get = [&](const std::string& name, const std::string& fallback) {
        return args.count(name) ? args[name] : fallback;
    };
    const char* secret = std::getenv("OPENAI_WEBHOOK_SECRET");
    if (!secret || !args.count("--url")) {
        std::cerr << "usage: OPENAI_WEBHOOK_SECRET=... bench-incoming-load --url URL --ca-file F --rate R "
                     "--seconds S --connections C --to NUMBER [--warmup-seconds W]\n";
        return 64;
    }
    const double rate = std::stod(get("--rate", "1000"));
    const double seconds = std::min(600.0, std::stod(get("--seconds", "20")));
    const double warmup = std::stod(get("--warmup-seconds", "3"));
    const int connections = std::max(1, std::stoi(get("--connections", "10")));
    const auto to = get("--to", "+18005550100");
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);

    Poco::Net::initializeSSL();
    const Poco::URI uri(args["--url"]);
    WebhookSenderOptions senderOptions;
    senderOptions.url = args["--url"];
    senderOptions.secret = secret;
    const WebhookSender signer(senderOptions); // only signs; the connections below send
    Poco::Net::Context::Params params;
    params.caLocation = get("--ca-file", "");
    params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);

    Shared shared;
    const long total = static_cast<long>(rate * (warmup + seconds));
    const auto start = Clock::now() + std::chrono::milliseconds(200);
    auto due = [&](long index) {
        return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(index / rate));
    };
    auto worker = [&](int connection) {
        std::unique_ptr<Poco::Net::HTTPSClientSession> session;
        std::vector<Sample> samples;
        std::map<int, long> statuses;
        long accepted = 0, errors = 0, late = 0;
        for (long index = connection; index < total; index += connections) {
            IncomingCall call;
            call.to = to;
            call.fromName = "Bench Caller";
            const auto event = makeIncomingCallEvent(call);
            const auto dueAt = due(index);
            std::this_thread::sleep_until(dueAt);
            const auto unixNow =
                std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
            const auto sentAt = Clock::now();
            if (sentAt - dueAt > std::chrono::milliseconds(1)) ++late;
            int status = 0;
            std::string body;
            try {
                if (!session) {
                    session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context);
                    session->setKeepAlive(true);
                    session->setTimeout(Poco::Timespan(10, 0));
                }
                Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, uri.getPathEtc(),
                                               Poco::Net::HTTPMessage::HTTP_1_1);
                request.setKeepAlive(true);
                request.setContentType("application/json");
                request.setContentLength(static_cast<std::streamsize>(event.body.size()));
                for (const auto& [name, value] : signer.signatureHeaders(event, unixNow))
                    request.set(name, value);
                session->sendRequest(request) << event.body;
                Poco::Net::HTTPResponse response;
                auto& in = session->receiveResponse(response);
                Poco::StreamCopier::copyToString(in, body);
                status = response.getStatus();
                if (!response.getKeepAlive()) session.reset();
            } catch (const std::exception& e) {
                ++errors;
                session.reset();
            }
            const auto doneAt = Clock::now();
            if (status) ++statuses[status];
            if (body.find("\"accepted\":true") != std::string::npos) ++accepted;
            if (static_cast<double>(index) / rate >= warmup && status)
                samples.push_back({std::chrono::duration<double, std::milli>(doneAt - dueAt).count(),
                                   std::chrono::duration<double, std::milli>(doneAt - sentAt).count(),
                                   static_cast<double>(index) / rate, connection});
        }
        std::lock_guard lock(shared.mutex);
        shared.samples.insert(shared.samples.end(), samples.begin(), samples.end());
        for (const auto& [s, n] : statuses)
            shared.statuses[s] += n;
        shared.accepted += accepted;
        shared.errors += errors;
        shared.late += late;
    };
    std::vector<std::thread> threads;
    for (int c = 0; c < connections; ++c)
        threads.emplace_back(worker, c);
    for (auto& thread : threads)
        thread.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

    // --samples FILE: every measured delivery (due time in s, latency and service time in ms,
    // connection), to see whether a tail is one stall or spread out.
    if (args.count("--samples")) {
        if (FILE* out = std::fopen(args["--samples"].c_str(), "w")) {
            std::fprintf(out, "at_s latency_ms service_ms connection\n");
            for (const auto& s : shared.samples)
                std::fprintf(out, "%.4f %.3f %.3f %d\n", s.atSeconds, s.dueMs, s.serviceMs, s.connection);
            std::fclose(out);
        }
    }
    std::vector<double> dueMs, serviceMs;
    for (const auto& s : shared.samples) {
        dueMs.push_back(s.dueMs);
        serviceMs.push_back(s.serviceMs);
    }
    std::string statuses;
    for (const auto& [s, n] : shared.statuses)
        statuses += (statuses.empty() ? "" : ",") + std::to_string(s) + ":" + std::to_string(n);
    std::printf("BENCH sent=%ld seconds=%.2f offered_rps=%.1f achieved_rps=%.1f measured=%zu "
                "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f service_p50_ms=%.3f service_p99_ms=%.3f "
                "accepted=%ld errors=%ld late=%ld statuses=%s\n",
                total, elapsed, rate, total / elapsed, dueMs.size(), percentile(dueMs, 50), percentile(dueMs, 90),
                percentile(dueMs, 99), percentile(dueMs, 100), percentile(serviceMs, 50), percentile(serviceMs, 99),
                shared.accepted, shared.errors, shared.late, statuses.c_str());
    return 0;
}
