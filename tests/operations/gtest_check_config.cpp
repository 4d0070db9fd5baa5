// `sideband-host --check-config`: one line per check, exit 0 when all is well and 78 (EX_CONFIG)
// with the problem's line otherwise; it binds no port and never prints a secret.
#include "HostProcess.h"
#include "TestCertificates.h"

#include "tenants/TenantStoreFactory.h"

#include <Poco/Net/ServerSocket.h>

#include <boost/filesystem.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

using namespace sideband;
using namespace sideband::testing;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string kApiKey = "sk-test-NeverPrintMe-4242";
constexpr int kExConfig = 78;

int countOf(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

void writeFile(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

// A complete, valid deployment in a temporary directory: TLS files, CA, a SQLite store with two
// tenants (one with a plugin), the plugin directory.
class CheckConfigTest : public ::testing::Test {
public:
    void SetUp() override {
        const auto& certs = TestCertificates::shared();
        boost::filesystem::create_directory(dir_.file("plugins"));
        boost::filesystem::copy_file(SIDEBAND_PLUGIN_V1, dir_.file("plugins/tools.so"));
        addTenant("acme", "+18005550123", R"({"plugin":"tools.so"})");
        addTenant("plain", "+18005550124", "{}");
        env_ = {{"SIDEBAND_LISTEN", "127.0.0.1:" + std::to_string(freePort())},
                {"SIDEBAND_TLS_CERT", certs.certFile()},
                {"SIDEBAND_TLS_KEY", certs.keyFile()},
                {"SIDEBAND_DB", "sqlite:" + dir_.file("sideband.db")},
                {"SIDEBAND_PLUGIN_DIR", dir_.file("plugins")},
                {"OPENAI_BASE_URL", "https://127.0.0.1:1/v1"},
                {"SIDEBAND_OPENAI_CA_FILE", certs.caFile()},
                {"OPENAI_WEBHOOK_SECRET", kSecret},
                {"OPENAI_API_KEY", kApiKey}};
    }

    void addTenant(const std::string& id, const std::string& number, const std::string& config, bool enabled = true) {
        tenants::TenantDefinition tenant;
        tenant.id = id;
        tenant.name = id;
        tenant.enabled = enabled;
        tenant.numbers = {number};
        tenant.configJson = config;
        tenant.instructions = tenants::Instructions{"Be helpful.", "Hello!"};
        tenants::openTenantStore("sqlite:" + dir_.file("sideband.db"))->upsertTenant(tenant);
    }

    struct Run {
        int exitCode;
        std::string out; // the report (stdout)
        std::string all; // stdout and stderr
    };
    Run check(const std::vector<std::string>& extraArgs = {}) {
        std::vector<std::string> args{"--check-config"};
        args.insert(args.end(), extraArgs.begin(), extraArgs.end());
        HostProcess process(SIDEBAND_HOST_BINARY, args, env_);
        const int code = process.wait();
        return {code, process.standardOut(), process.standardOut() + process.output()};
    }

    TempDir dir_;
    std::map<std::string, std::string> env_;
};

} // namespace

TEST_F(CheckConfigTest, AGoodConfigurationExitsZeroWithAnOkLinePerCheck) {
    const auto run = check();
    EXPECT_EQ(run.exitCode, 0) << run.all;
    EXPECT_EQ(countOf(run.out, "problem:"), 0) << run.out;
    EXPECT_THAT(run.out, HasSubstr("ok: SIDEBAND_LISTEN 127.0.0.1:"));
    EXPECT_THAT(run.out, HasSubstr("ok: OPENAI_WEBHOOK_SECRET set (1 secret)"));
    EXPECT_THAT(run.out, HasSubstr("ok: OPENAI_API_KEY set"));
    EXPECT_THAT(run.out, HasSubstr("ok: TLS certificate " + env_["SIDEBAND_TLS_CERT"]));
    EXPECT_THAT(run.out, HasSubstr("ok: OPENAI_BASE_URL https://127.0.0.1:1/v1"));
    EXPECT_THAT(run.out, HasSubstr("ok: SIDEBAND_OPENAI_CA_FILE"));
    EXPECT_THAT(run.out, HasSubstr("ok: SIDEBAND_DB sqlite:" + dir_.file("sideband.db") + " opens (2 tenants)"));
    EXPECT_THAT(run.out, HasSubstr("ok: SIDEBAND_PLUGIN_DIR " + dir_.file("plugins")));
    EXPECT_THAT(run.out, HasSubstr("ok: tenant acme: plugin tools.so loads (9 tools)"));
    EXPECT_THAT(run.out, HasSubstr("\nconfiguration ok\n"));
}

TEST_F(CheckConfigTest, BindsNoPortAndStartsNothing) {
    // The listen port is taken by someone else: a server would fail to bind, the check does not try.
    Poco::Net::ServerSocket taken(Poco::Net::SocketAddress("127.0.0.1", 0));
    env_["SIDEBAND_LISTEN"] = "127.0.0.1:" + std::to_string(taken.address().port());
    const auto run = check();
    EXPECT_EQ(run.exitCode, 0) << run.all;
    EXPECT_THAT(run.all, Not(HasSubstr("listening")));
}

TEST_F(CheckConfigTest, LeavesNoPrivatePluginCopiesInTheTempDirectory) {
    boost::filesystem::create_directory(dir_.file("tmp"));
    env_["TMPDIR"] = dir_.file("tmp"); // where the loader makes its private copy directory
    const auto run = check();
    ASSERT_EQ(run.exitCode, 0) << run.all;
    ASSERT_THAT(run.out, HasSubstr("ok: tenant acme: plugin tools.so loads"));
    EXPECT_TRUE(boost::filesystem::is_empty(dir_.file("tmp")));
}

TEST_F(CheckConfigTest, InsecureModeIsFineWhenExplicit) {
    env_.erase("SIDEBAND_TLS_CERT");
    env_.erase("SIDEBAND_TLS_KEY");
    env_["SIDEBAND_INSECURE_HTTP"] = "1";
    const auto run = check();
    EXPECT_EQ(run.exitCode, 0) << run.all;
    EXPECT_THAT(run.out, HasSubstr("ok: TLS off: SIDEBAND_INSECURE_HTTP=1"));
}

TEST_F(CheckConfigTest, ReadsTheConfigFileLikeTheHost) {
    writeFile(dir_.file("sideband.conf"), "# settings\nMAX_CONCURRENT_CALLS = lots\n");
    const auto run = check({"--config", dir_.file("sideband.conf")});
    EXPECT_EQ(run.exitCode, kExConfig) << run.all;
    EXPECT_THAT(run.out, HasSubstr("ok: config file " + dir_.file("sideband.conf") + " read"));
    EXPECT_THAT(run.out, HasSubstr("problem: MAX_CONCURRENT_CALLS must be an integer between 0 and 1000000"));
}

// One problem class per case: the environment change, the line expected, how many problem lines.
struct ProblemCase {
    const char* name;
    std::function<void(CheckConfigTest&, std::map<std::string, std::string>&, const TempDir&)> breakIt;
    std::string expectedLine; // may contain {dir}
    int problems = 1;
};

void PrintTo(const ProblemCase& c, std::ostream* out) {
    *out << c.name;
}

class CheckConfigProblemTest : public CheckConfigTest, public ::testing::WithParamInterface<ProblemCase> {};

TEST_P(CheckConfigProblemTest, PrintsItsLineAndExits78) {
    const auto& param = GetParam();
    param.breakIt(*this, env_, dir_);
    const auto run = check();
    auto expected = param.expectedLine;
    if (auto at = expected.find("{dir}"); at != std::string::npos) expected.replace(at, 5, dir_.path());
    EXPECT_EQ(run.exitCode, kExConfig) << run.all;
    EXPECT_THAT(run.out, HasSubstr("problem: " + expected)) << run.out;
    EXPECT_EQ(countOf(run.out, "problem:"), param.problems) << run.out;
    EXPECT_THAT(run.out, HasSubstr("configuration has " + std::to_string(param.problems) + " problem"));
    EXPECT_THAT(run.all, Not(HasSubstr("MfKQ9r8G")));
    EXPECT_THAT(run.all, Not(HasSubstr(kApiKey)));
}

using Env = std::map<std::string, std::string>;

INSTANTIATE_TEST_SUITE_P(
    EachProblemClass, CheckConfigProblemTest,
    ::testing::Values(
        ProblemCase{"ValueDoesNotParse", [](auto&, Env& e, auto&) { e["SIDEBAND_HTTP_THREADS"] = "many"; },
                    "SIDEBAND_HTTP_THREADS must be an integer between 1 and 1024"},
        ProblemCase{"ToolShareAboveThePool",
                    [](auto&, Env& e, auto&) {
                        e["SIDEBAND_TOOL_THREADS"] = "2";
                        e["SIDEBAND_TOOL_CONCURRENCY_PER_TENANT"] = "3";
                    },
                    "SIDEBAND_TOOL_CONCURRENCY_PER_TENANT must not exceed SIDEBAND_TOOL_THREADS (2)"},
        ProblemCase{"ListenAddressDoesNotParse", [](auto&, Env& e, auto&) { e["SIDEBAND_LISTEN"] = "127.0.0.1:http0"; },
                    "SIDEBAND_LISTEN \"127.0.0.1:http0\" is not a HOST:PORT address"},
        ProblemCase{"LogLevelUnknown", [](auto&, Env& e, auto&) { e["SIDEBAND_LOG_LEVEL"] = "verbose"; },
                    "SIDEBAND_LOG_LEVEL must be one of"},
        ProblemCase{"LogFormatUnknown", [](auto&, Env& e, auto&) { e["SIDEBAND_LOG_FORMAT"] = "xml"; },
                    "SIDEBAND_LOG_FORMAT must be human or json"},
        ProblemCase{"WebhookSecretMissing", [](auto&, Env& e, auto&) { e.erase("OPENAI_WEBHOOK_SECRET"); },
                    "OPENAI_WEBHOOK_SECRET is not set"},
        ProblemCase{"WebhookSecretMalformed",
                    [](auto&, Env& e, auto&) { e["OPENAI_WEBHOOK_SECRET"] = "whsec_!!MfKQ9r8G-not-base64"; },
                    "OPENAI_WEBHOOK_SECRET: a whsec_ webhook secret is not valid base64"},
        ProblemCase{"ApiKeyMissing", [](auto&, Env& e, auto&) { e.erase("OPENAI_API_KEY"); },
                    "OPENAI_API_KEY is not set"},
        ProblemCase{"NeitherTlsNorInsecure",
                    [](auto&, Env& e, auto&) {
                        e.erase("SIDEBAND_TLS_CERT");
                        e.erase("SIDEBAND_TLS_KEY");
                    },
                    "refusing to serve without TLS"},
        ProblemCase{"TlsCertMissing", [](auto&, Env& e, auto&) { e["SIDEBAND_TLS_CERT"] = "/nonexistent/cert.pem"; },
                    "SIDEBAND_TLS_CERT /nonexistent/cert.pem does not exist"},
        ProblemCase{"TlsKeyIsNotAKey",
                    [](auto&, Env& e, const TempDir& d) {
                        writeFile(d.file("key.pem"), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
                        e["SIDEBAND_TLS_KEY"] = d.file("key.pem");
                    },
                    "cannot load TLS certificate/key"},
        ProblemCase{"TlsKeyOfAnotherCertificate",
                    [](auto&, Env& e, auto&) {
                        // The CA's certificate with the server's key: both load, they do not match.
                        e["SIDEBAND_TLS_CERT"] = TestCertificates::shared().caFile();
                    },
                    "SIDEBAND_TLS_KEY " + TestCertificates::shared().keyFile() + " does not match the certificate"},
        ProblemCase{"BaseUrlNotHttp", [](auto&, Env& e, auto&) { e["OPENAI_BASE_URL"] = "ftp://127.0.0.1/v1"; },
                    "OPENAI_BASE_URL must be an http(s) URL"},
        ProblemCase{"BaseUrlWithoutHost", [](auto&, Env& e, auto&) { e["OPENAI_BASE_URL"] = "https:///v1"; },
                    "OPENAI_BASE_URL has no host"},
        ProblemCase{"CaFileMissing",
                    [](auto&, Env& e, auto&) { e["SIDEBAND_OPENAI_CA_FILE"] = "/nonexistent/ca.pem"; },
                    "SIDEBAND_OPENAI_CA_FILE /nonexistent/ca.pem does not exist"},
        ProblemCase{"StoreSchemeUnsupported",
                    [](auto&, Env& e, auto&) { e["SIDEBAND_DB"] = "postgresql://sideband:hunter2@127.0.0.1/sb"; },
                    "SIDEBAND_DB postgresql://sideband:***@127.0.0.1/sb cannot be opened"},
        ProblemCase{"StoreIsNotADatabase",
                    [](auto&, Env& e, const TempDir& d) {
                        writeFile(d.file("garbage.db"), std::string(8192, 'x'));
                        e["SIDEBAND_DB"] = "sqlite:" + d.file("garbage.db");
                    },
                    "SIDEBAND_DB sqlite:{dir}/garbage.db cannot be opened"},
        ProblemCase{"StoreDirectoryMissing",
                    [](auto&, Env& e, auto&) { e["SIDEBAND_DB"] = "sqlite:/nonexistent/dir/sideband.db"; },
                    "SIDEBAND_DB sqlite:/nonexistent/dir/sideband.db: directory /nonexistent/dir does not exist"},
        ProblemCase{"PluginDirMissing",
                    [](auto&, Env& e, auto&) { e["SIDEBAND_PLUGIN_DIR"] = "/nonexistent/plugins"; },
                    "SIDEBAND_PLUGIN_DIR /nonexistent/plugins does not exist", 2 /* and acme's plugin */},
        ProblemCase{"TenantPluginMissing",
                    [](CheckConfigTest& t, auto&, auto&) { t.addTenant("acme", "+18005550123", R"({"plugin":"gone.so"})"); },
                    "tenant acme: plugin gone.so does not load (file_missing)"},
        ProblemCase{"TenantPluginNotALibrary",
                    [](CheckConfigTest& t, auto&, const TempDir& d) {
                        writeFile(d.file("plugins/text.so"), "not an ELF file\n");
                        t.addTenant("acme", "+18005550123", R"({"plugin":"text.so"})");
                    },
                    "tenant acme: plugin text.so does not load ("},
        ProblemCase{"DisabledTenantsPluginIsCheckedToo",
                    [](CheckConfigTest& t, auto&, auto&) {
                        t.addTenant("paused", "+18005550125", R"({"plugin":"gone.so"})", /*enabled=*/false);
                    },
                    "tenant paused (disabled): plugin gone.so does not load (file_missing)"}),
    [](const ::testing::TestParamInfo<ProblemCase>& info) { return std::string(info.param.name); });

TEST_F(CheckConfigTest, AMissingConfigFileIsAProblemAndTheEnvironmentIsStillChecked) {
    const auto run = check({"--config", dir_.file("missing.conf")});
    EXPECT_EQ(run.exitCode, kExConfig) << run.all;
    EXPECT_THAT(run.out, HasSubstr("problem: cannot read config file " + dir_.file("missing.conf")));
    EXPECT_THAT(run.out, HasSubstr("ok: tenant acme: plugin tools.so loads"));
    EXPECT_EQ(countOf(run.out, "problem:"), 1) << run.out;
}

TEST_F(CheckConfigTest, SecretsAreNeverPrinted) {
    // A good run and a bad one (every secret-bearing setting broken in a way that gets reported).
    for (bool broken : {false, true}) {
        if (broken) {
            env_["OPENAI_WEBHOOK_SECRET"] = "whsec_MfKQ9r8G!!! " + kSecret;
            env_["SIDEBAND_DB"] = "postgresql://sideband:hunter2@127.0.0.1/sb";
            env_["OPENAI_BASE_URL"] = "https://user:" + kApiKey + "@127.0.0.1/v1";
        }
        const auto run = check();
        EXPECT_EQ(run.exitCode, broken ? kExConfig : 0) << run.all;
        EXPECT_THAT(run.all, Not(HasSubstr("MfKQ9r8G"))) << run.all;
        EXPECT_THAT(run.all, Not(HasSubstr(kApiKey))) << run.all;
        EXPECT_THAT(run.all, Not(HasSubstr("NeverPrintMe"))) << run.all;
        EXPECT_THAT(run.all, Not(HasSubstr("hunter2"))) << run.all;
    }
}

TEST_F(CheckConfigTest, AFleetsRedisThatCannotBeReachedIsAProblemAndItsPasswordIsNeverPrinted) {
    env_["SIDEBAND_LEDGER"] = "redis://:hunter2-redis@127.0.0.1:1"; // nothing listens on port 1
    const auto run = check();
    EXPECT_EQ(run.exitCode, kExConfig) << run.all;
    EXPECT_THAT(run.out, HasSubstr("problem: SIDEBAND_LEDGER cannot be reached: "));
    EXPECT_EQ(countOf(run.out, "problem:"), 1) << run.out;
    EXPECT_THAT(run.all, Not(HasSubstr("hunter2")));
}

TEST_F(CheckConfigTest, OneHostsLedgerIsInMemory) {
    EXPECT_THAT(check().out, HasSubstr("ok: SIDEBAND_LEDGER memory (one host)"));
}
