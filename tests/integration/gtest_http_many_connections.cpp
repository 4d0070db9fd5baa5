// The host in-process (HTTPS and plain HTTP) with thousands of connections that send nothing and
// a thousand that send one byte a second: signed deliveries and /healthz on fresh connections are
// still answered, and the process has exactly as many threads as before they were opened. The
// connections' client ends live in a process of their own (connection_holder), so that the file
// descriptor limit is spent on the host's ends only.
#include "Eventually.h"
#include "TestCertificates.h"
#include "TestHttpClient.h"
#include "TransportMode.h"

#include "app/Host.h"
#include "metrics/SidebandMetrics.h"
#include "webhook/WebhookSignature.h"

#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

// The issue's figures; AddressSanitizer's memory and speed need fewer.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kIdle = 2000;
constexpr std::size_t kSlow = 200;
#else
constexpr std::size_t kIdle = 10000;
constexpr std::size_t kSlow = 1000;
#endif
constexpr int kRequests = 200;

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

int processThreads() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    return -1;
}

// Root may raise the hard limit too; otherwise the soft limit goes up to the hard one. Returns the
// limit now in force.
rlim_t raiseFileLimit(rlim_t wanted) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur >= wanted) return limit.rlim_cur;
    const rlimit raised{wanted, std::max(wanted, limit.rlim_max)};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return wanted;
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur;
}

struct Latencies {
    std::vector<double> ms;
    double at(double quantile) {
        std::sort(ms.begin(), ms.end());
        const auto rank = static_cast<std::size_t>(std::ceil(quantile * static_cast<double>(ms.size())));
        return ms[std::min(ms.size(), std::max<std::size_t>(rank, 1)) - 1];
    }
};

class ManyConnectionsTest : public ::testing::TestWithParam<TransportMode> {
protected:
    void SetUp() override {
        std::signal(SIGPIPE, SIG_IGN);
        spdlog::set_level(spdlog::level::warn); // one info line per delivery otherwise
        const auto needed = static_cast<rlim_t>(kIdle + kSlow + 1024);
        const auto limit = raiseFileLimit(needed);
        // Scaled down only where the limit cannot be raised (not root, hard limit too low).
        const double scale = std::min(1.0, static_cast<double>(limit - 1024) / static_cast<double>(needed - 1024));
        idle_ = static_cast<std::size_t>(static_cast<double>(kIdle) * scale);
        slow_ = static_cast<std::size_t>(static_cast<double>(kSlow) * scale);

        Settings settings;
        settings.listen = "127.0.0.1:0";
        settings.webhookSecret = kSecret;
        settings.openaiApiKey = "sk-test";
        settings.database = "sqlite:" + dir_.file("sideband.db");
        settings.pluginDir = dir_.path();
        settings.openaiBaseUrl = "http://127.0.0.1:1/v1";
        settings.maxConnections = static_cast<int>(idle_ + slow_ + 1000);
        // Only the load is under test here: no deadline may close the idle and slow connections.
        settings.tlsHandshakeTimeoutMs = settings.headTimeoutMs = settings.idleTimeoutMs = 3600 * 1000;
        if (GetParam().tls) {
            settings.tlsCert = TestCertificates::shared().certFile();
            settings.tlsKey = TestCertificates::shared().keyFile();
        } else {
            settings.insecureHttp = true;
        }
        host_ = std::make_unique<Host>(settings);
        host_->start();
        key_ = webhook::parseWebhookSecrets(kSecret).front();
    }

    void TearDown() override {
        if (holder_) releaseConnections();
        host_->stop();
    }

    std::string caFile() const { return GetParam().tls ? TestCertificates::shared().caFile() : std::string(); }

    // A signed realtime.call.ended for a call holding no slot: the whole webhook path (signature,
    // deduplication, a worker) without OpenAI.
    HttpResult deliver(int n) {
        const auto body = R"({"object":"event","id":"evt_many_)" + std::to_string(n) +
                          R"(","type":"realtime.call.ended","data":{"call_id":"rtc_many_)" + std::to_string(n) + "\"}}";
        TestHttpClient client("127.0.0.1", host_->port(), caFile());
        return client.request("POST", "/api/v1/openai/webhook", body,
                              signedHeaders(key_, "wh_many_" + std::to_string(n), body));
    }

    // Opens the idle and slow connections from connection_holder; returns its first line ("ready").
    std::string holdConnections() {
        std::vector<std::string> args{std::to_string(host_->port()), std::to_string(idle_), std::to_string(slow_)};
        if (GetParam().tls) args.push_back(caFile());
        holder_ = std::make_unique<Poco::ProcessHandle>(
            Poco::Process::launch(SIDEBAND_CONNECTION_HOLDER, args, &holderIn_, &holderOut_, nullptr));
        holderLines_ = std::make_unique<Poco::PipeInputStream>(holderOut_);
        std::string line;
        std::getline(*holderLines_, line);
        return line;
    }
    // Closes every held connection; returns the holder's last line ("closed N failed M").
    std::string releaseConnections() {
        holderIn_.close(Poco::Pipe::CLOSE_WRITE);
        std::string line;
        std::getline(*holderLines_, line);
        holder_->wait();
        holder_.reset();
        return line;
    }

    TempDir dir_;
    std::unique_ptr<Host> host_;
    std::string key_;
    std::size_t idle_ = 0;
    std::size_t slow_ = 0;
    Poco::Pipe holderIn_;
    Poco::Pipe holderOut_;
    std::unique_ptr<Poco::ProcessHandle> holder_;
    std::unique_ptr<Poco::PipeInputStream> holderLines_;
};

} // namespace

TEST_P(ManyConnectionsTest, DeliveriesAndHealthAnswerWithThousandsOfIdleAndSlowConnectionsOpen) {
    for (int i = 0; i < 5; ++i) // whatever the host starts on first use has started
        ASSERT_EQ(deliver(-1 - i).status, 200);
    const int threadsBefore = processThreads();

    ASSERT_EQ(holdConnections(), "ready");
    const auto open = [&] {
        return host_->metrics().value(metrics::name::kHttpConnectionsOpen, {{"listener", "main"}});
    };
    ASSERT_TRUE(eventually([&] { return open() == static_cast<double>(idle_ + slow_); }, 60s))
        << "every connection accepted: " << open();
    std::this_thread::sleep_for(1500ms); // every slow connection has dripped a byte more

    Latencies deliveries, health;
    for (int i = 0; i < kRequests; ++i) {
        auto started = std::chrono::steady_clock::now();
        const auto delivered = deliver(i);
        deliveries.ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        ASSERT_EQ(delivered.status, 200) << "delivery " << i;
        ASSERT_EQ(delivered.body, R"({"ok":true})") << "delivery " << i;

        started = std::chrono::steady_clock::now();
        const auto healthz = TestHttpClient("127.0.0.1", host_->port(), caFile()).get("/healthz");
        health.ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        ASSERT_EQ(healthz.status, 200) << "healthz " << i;
    }
    const int threadsDuring = processThreads();

    std::cout << "[ figures  ] " << GetParam().name << ", " << idle_ << " idle + " << slow_
              << " slow connections: delivery p50 " << deliveries.at(0.5) << " ms, p99 " << deliveries.at(0.99)
              << " ms, max " << deliveries.at(1.0) << " ms; /healthz p50 " << health.at(0.5) << " ms, p99 "
              << health.at(0.99) << " ms, max " << health.at(1.0) << " ms; threads " << threadsBefore << " -> "
              << threadsDuring << std::endl;
    EXPECT_EQ(threadsDuring, threadsBefore) << "no thread per connection";
    EXPECT_LT(deliveries.at(1.0), 10000.0) << "each answered within the client's deadline, by far";
    EXPECT_TRUE(eventually([&] { return open() == static_cast<double>(idle_ + slow_); })) << open();
    EXPECT_EQ(releaseConnections(), "closed 0 failed 0") << "the server closed no idle or slow connection";
}

INSTANTIATE_TEST_SUITE_P(Transports, ManyConnectionsTest, bothTransports(), transportName);
