// GET /metrics is the Prometheus text format, as Prometheus's own checker reads it: the real host
// after a few deliveries (so counters, histograms and labels have samples), validated by
// `promtool check metrics` (Debian package `prometheus`), which also applies its naming lint.
#include "HostProcess.h"
#include "TestHttpClient.h"

#include "webhook/WebhookSignature.h"

#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>
#include <Poco/StreamCopier.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

using namespace sideband;
using namespace sideband::testing;
using ::testing::HasSubstr;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string findPromtool() {
    for (const char* candidate : {"/usr/bin/promtool", "/usr/local/bin/promtool"})
        if (std::filesystem::exists(candidate)) return candidate;
    return {};
}

struct CheckResult {
    int exitCode = -1;
    std::string output;
};

// `promtool check metrics` reads the exposition on standard input.
CheckResult promtoolCheck(const std::string& promtool, const std::string& exposition) {
    Poco::Pipe in, out;
    auto handle = Poco::Process::launch(promtool, {"check", "metrics"}, &in, &out, &out);
    {
        Poco::PipeOutputStream stream(in);
        stream << exposition;
        stream.close();
    }
    Poco::PipeInputStream stream(out);
    CheckResult result;
    Poco::StreamCopier::copyToString(stream, result.output);
    result.exitCode = handle.wait();
    return result;
}

std::string scrapeAfterTraffic(const std::map<std::string, std::string>& extraEnv, bool separateListener) {
    const unsigned short port = freePort();
    const unsigned short metricsPort = separateListener ? freePort() : port;
    std::map<std::string, std::string> env{{"SIDEBAND_LISTEN", "127.0.0.1:" + std::to_string(port)},
                                           {"SIDEBAND_INSECURE_HTTP", "1"},
                                           {"OPENAI_WEBHOOK_SECRET", kSecret},
                                           {"OPENAI_API_KEY", "sk-test-metrics"}};
    // Its own database, so parallel tests never share a SQLite file.
    const auto dir = std::filesystem::temp_directory_path() / ("sideband-promtool-" + std::to_string(port));
    std::filesystem::create_directories(dir);
    env["SIDEBAND_DB"] = "sqlite:" + (dir / "sideband.db").string();
    if (separateListener) env["SIDEBAND_METRICS_LISTEN"] = "127.0.0.1:" + std::to_string(metricsPort);
    for (const auto& [k, v] : extraEnv) env[k] = v;
    HostProcess host(SIDEBAND_HOST_BINARY, {}, env);
    if (!host.waitForHttp(port)) {
        ADD_FAILURE() << "host did not start:\n" << host.output();
        return {};
    }
    TestHttpClient client("127.0.0.1", port);
    const std::string key = webhook::parseWebhookSecrets(kSecret).front();
    const std::string ended = R"({"id":"evt_m1","type":"realtime.call.ended","data":{"call_id":"rtc_m1"}})";
    const std::string other = R"({"id":"evt_m2","type":"something.else","data":{}})";
    client.request("POST", "/api/v1/openai/webhook", ended, signedHeaders(key, "wh_m1", ended));
    client.request("POST", "/api/v1/openai/webhook", ended, signedHeaders(key, "wh_m1", ended)); // deduped
    client.request("POST", "/api/v1/openai/webhook", other, signedHeaders(key, "wh_m2", other));
    client.request("POST", "/api/v1/openai/webhook", ended, {{"webhook-id", "wh_bad"}}); // 401
    HttpResult metrics = TestHttpClient("127.0.0.1", metricsPort).get("/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_THAT(metrics.headers["content-type"], HasSubstr("text/plain"));
    host.signal(SIGTERM);
    EXPECT_EQ(host.wait(), 0) << host.output();
    std::filesystem::remove_all(dir);
    return metrics.body;
}

} // namespace

TEST(PrometheusMetrics, PromtoolAcceptsTheExpositionAfterTraffic) {
    const std::string promtool = findPromtool();
    ASSERT_FALSE(promtool.empty()) << "promtool not found: install the Debian package `prometheus` "
                                      "(tools/install-deps.sh lists it); this test does not skip";
    const std::string body = scrapeAfterTraffic({}, false);
    ASSERT_FALSE(body.empty());
    EXPECT_THAT(body, HasSubstr("sideband_webhooks_total"));
    EXPECT_THAT(body, HasSubstr("sideband_event_loop_iteration_seconds_bucket{loop=\"io-0\",le=\"+Inf\"}"));
    const CheckResult check = promtoolCheck(promtool, body);
    EXPECT_EQ(check.exitCode, 0) << "promtool check metrics:\n" << check.output << "\n--- exposition ---\n" << body;
}

TEST(PrometheusMetrics, PromtoolAcceptsTheSeparateMetricsListener) {
    const std::string promtool = findPromtool();
    ASSERT_FALSE(promtool.empty()) << "promtool not found: install the Debian package `prometheus`";
    const std::string body = scrapeAfterTraffic({}, true);
    ASSERT_FALSE(body.empty());
    const CheckResult check = promtoolCheck(promtool, body);
    EXPECT_EQ(check.exitCode, 0) << "promtool check metrics:\n" << check.output << "\n--- exposition ---\n" << body;
}
