// The sideband-host binary itself: start-up refusals, configuration layering, signals, the signer.
#include "HostProcess.h"
#include "TestCertificates.h"
#include "TestHttpClient.h"

#include <Poco/String.h>
#include <Poco/StringTokenizer.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

using namespace sideband::testing;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string kApiKey = "sk-test-DoNotLogMe";

std::map<std::string, std::string> baseEnv(unsigned short port) {
    static TempDir state;
    return {{"SIDEBAND_LISTEN", "127.0.0.1:" + std::to_string(port)},
            {"SIDEBAND_DB", "sqlite:" + state.file("sideband.db")},
            {"SIDEBAND_PLUGIN_DIR", state.path()},
            {"OPENAI_BASE_URL", "http://127.0.0.1:1/v1"}, // never the internet
            {"SIDEBAND_INSECURE_HTTP", "1"},
            {"OPENAI_WEBHOOK_SECRET", kSecret},
            {"OPENAI_API_KEY", kApiKey},
            {"SIDEBAND_LOG_LEVEL", "debug"}};
}

int countLines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

} // namespace

TEST(HostProcess, RefusesToStartWithoutTlsWithOneClearLine) {
    auto env = baseEnv(freePort());
    env.erase("SIDEBAND_INSECURE_HTTP");
    HostProcess host(SIDEBAND_HOST_BINARY, {}, env);
    EXPECT_EQ(host.wait(), 78); // EX_CONFIG
    EXPECT_THAT(host.output(), HasSubstr("refusing to serve without TLS"));
    EXPECT_EQ(countLines(host.output()), 1) << host.output();
}

TEST(HostProcess, RefusesToStartWithoutWebhookSecret) {
    auto env = baseEnv(freePort());
    env["OPENAI_WEBHOOK_SECRET"] = "";
    HostProcess host(SIDEBAND_HOST_BINARY, {}, env);
    EXPECT_EQ(host.wait(), 78);
    EXPECT_THAT(host.output(), HasSubstr("OPENAI_WEBHOOK_SECRET is not set"));
}

TEST(HostProcess, RefusesUnreadableTlsFilesWithOneClearLine) {
    auto env = baseEnv(freePort());
    env.erase("SIDEBAND_INSECURE_HTTP");
    env["SIDEBAND_TLS_CERT"] = "/nonexistent/cert.pem";
    env["SIDEBAND_TLS_KEY"] = "/nonexistent/key.pem";
    HostProcess host(SIDEBAND_HOST_BINARY, {}, env);
    EXPECT_NE(host.wait(), 0);
    EXPECT_THAT(host.output(), HasSubstr("cannot load TLS certificate/key"));
    EXPECT_EQ(countLines(host.output()), 1) << host.output();
}

TEST(HostProcess, StopsCleanlyOnSigterm) {
    const auto port = freePort();
    HostProcess host(SIDEBAND_HOST_BINARY, {}, baseEnv(port));
    ASSERT_TRUE(host.waitForHttp(port)) << host.output();
    host.signal(SIGTERM);
    EXPECT_EQ(host.wait(), 0) << host.output();
    EXPECT_THAT(host.output(), HasSubstr("stopped"));
}

TEST(HostProcess, StopsCleanlyOnSigint) {
    const auto port = freePort();
    HostProcess host(SIDEBAND_HOST_BINARY, {}, baseEnv(port));
    ASSERT_TRUE(host.waitForHttp(port)) << host.output();
    host.signal(SIGINT);
    EXPECT_EQ(host.wait(), 0) << host.output();
}

TEST(HostProcess, ReadsTheConfigFileAndTheEnvironmentWins) {
    TempDir dir;
    const auto filePort = freePort();
    const auto envPort = freePort();
    {
        std::ofstream config(dir.file("sideband.conf"));
        config << "# comment\nSIDEBAND_LISTEN = 127.0.0.1:" << filePort << "\nSIDEBAND_INSECURE_HTTP = 1\n"
               << "OPENAI_WEBHOOK_SECRET = " << kSecret << "\nOPENAI_API_KEY = from-file\n";
    }
    HostProcess host(SIDEBAND_HOST_BINARY, {"--config", dir.file("sideband.conf")},
                     {{"SIDEBAND_LISTEN", "127.0.0.1:" + std::to_string(envPort)},
                      {"SIDEBAND_DB", "sqlite:" + dir.file("sideband.db")}});
    EXPECT_TRUE(host.waitForHttp(envPort)) << host.output();
    host.signal(SIGTERM);
    EXPECT_EQ(host.wait(), 0);
}

TEST(HostProcess, SignedRequestFromTheSignCommandIsAccepted) {
    const auto port = freePort();
    HostProcess host(SIDEBAND_HOST_BINARY, {}, baseEnv(port));
    ASSERT_TRUE(host.waitForHttp(port));

    const std::string body = R"({"id":"evt_sign","type":"realtime.call.ended","data":{"call_id":"rtc_9"}})";
    HostProcess sign(SIDEBAND_HOST_BINARY, {"sign", "--headers"}, {{"OPENAI_WEBHOOK_SECRET", kSecret}}, body);
    ASSERT_EQ(sign.wait(), 0) << sign.output();

    std::map<std::string, std::string> headers;
    const auto printed = sign.standardOut();
    Poco::StringTokenizer lines(printed.substr(0, printed.find("\n\n")), "\n", Poco::StringTokenizer::TOK_TRIM);
    for (const auto& line : lines) headers[line.substr(0, line.find(':'))] = Poco::trim(line.substr(line.find(':') + 1));
    ASSERT_EQ(headers.size(), 3u) << printed;
    EXPECT_EQ(printed.substr(printed.find("\n\n") + 2), body + "\n");

    TestHttpClient client("127.0.0.1", port);
    const auto answer = client.request("POST", "/api/v1/openai/webhook", body, headers);
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body, R"({"ok":true})");
    host.signal(SIGTERM);
    host.wait();
}

TEST(HostProcess, SignPrintsACurlLine) {
    HostProcess sign(SIDEBAND_HOST_BINARY, {"sign", "--id", "wh_1", "--timestamp", "1614265330"},
                     {{"OPENAI_WEBHOOK_SECRET", kSecret}}, R"({"test": 2432232314})");
    ASSERT_EQ(sign.wait(), 0);
    EXPECT_THAT(sign.standardOut(), HasSubstr("curl -sS -X POST"));
    EXPECT_THAT(sign.standardOut(), HasSubstr("'webhook-timestamp: 1614265330'"));
    EXPECT_THAT(sign.standardOut(), Not(HasSubstr("MfKQ9r8G")));
}

TEST(HostProcess, SecretsNeverAppearInLogs) {
    const auto port = freePort();
    HostProcess host(SIDEBAND_HOST_BINARY, {}, baseEnv(port));
    ASSERT_TRUE(host.waitForHttp(port));
    TestHttpClient client("127.0.0.1", port);
    client.request("POST", "/api/v1/openai/webhook", "{}", {{"webhook-id", "x"}, {"webhook-timestamp", "1"},
                                                            {"webhook-signature", "v1,AAAA"}});
    client.request("POST", "/api/v1/openai/webhook", "{bad json");
    host.signal(SIGTERM);
    host.wait();
    EXPECT_THAT(host.output(), Not(HasSubstr("MfKQ9r8G")));
    EXPECT_THAT(host.output(), Not(HasSubstr(kApiKey)));
    EXPECT_THAT(host.output(), HasSubstr("invalid signature"));
}
