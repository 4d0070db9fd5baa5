#include "app/Settings.h"

#include <gtest/gtest.h>

#include <map>

using sideband::Settings;

namespace {

Settings::Lookup from(std::map<std::string, std::string> values) {
    return [values](const std::string& name) -> std::optional<std::string> {
        auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        return it->second;
    };
}

} // namespace

TEST(Settings, DefaultsMatchTheSpec) {
    std::vector<std::string> problems;
    const auto s = Settings::load(from({}), problems);
    EXPECT_TRUE(problems.empty());
    EXPECT_EQ(s.listen, "0.0.0.0:8443");
    EXPECT_EQ(s.maxConcurrentCalls, 100);
    EXPECT_FALSE(s.maxConcurrentCallsPerTenant);
    EXPECT_EQ(s.openaiBaseUrl, "https://api.openai.com/v1");
}

TEST(Settings, RefusesToServeWithoutTlsUnlessInsecureIsExplicit) {
    std::vector<std::string> problems;
    auto s = Settings::load(from({{"OPENAI_WEBHOOK_SECRET", "s"}, {"OPENAI_API_KEY", "k"}}), problems);
    ASSERT_EQ(s.validate().size(), 1u);
    EXPECT_NE(s.validate()[0].find("refusing to serve without TLS"), std::string::npos);
    s = Settings::load(from({{"OPENAI_WEBHOOK_SECRET", "s"}, {"OPENAI_API_KEY", "k"}, {"SIDEBAND_INSECURE_HTTP", "1"}}),
                       problems);
    EXPECT_TRUE(s.validate().empty());
}

TEST(Settings, ReportsBadNumbersByName) {
    std::vector<std::string> problems;
    Settings::load(from({{"MAX_CONCURRENT_CALLS", "many"}, {"MAX_CONCURRENT_CALLS_PER_TENANT", "-1"}}), problems);
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_EQ(problems[0].rfind("MAX_CONCURRENT_CALLS must", 0), 0u);
    EXPECT_EQ(problems[1].rfind("MAX_CONCURRENT_CALLS_PER_TENANT must", 0), 0u);
}

TEST(Settings, ProblemsNeverQuoteASecret) {
    std::vector<std::string> problems;
    auto s = Settings::load(from({{"OPENAI_WEBHOOK_SECRET", "whsec_sup3r*secret"}, {"SIDEBAND_INSECURE_HTTP", "1"}}),
                            problems);
    for (const auto& problem : s.validate())
        EXPECT_EQ(problem.find("sup3r"), std::string::npos) << problem;
}

TEST(Settings, RefusesAnUnknownLogLevel) {
    std::vector<std::string> problems;
    Settings::load(from({{"SIDEBAND_LOG_LEVEL", "verbose"}}), problems);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rfind("SIDEBAND_LOG_LEVEL must be", 0), 0u);
}

TEST(Settings, SessionsHaveFourFrameWorkersAndEightConnectorsByDefault) {
    std::vector<std::string> problems;
    const auto defaults = Settings::load(from({}), problems);
    EXPECT_EQ(defaults.sessionWorkers, 4);
    EXPECT_EQ(defaults.sessionConnectors, 4);
    EXPECT_EQ(Settings::load(from({{"SIDEBAND_SESSION_CONNECTORS", "32"}}), problems).sessionConnectors, 32);
    EXPECT_TRUE(problems.empty());
    Settings::load(from({{"SIDEBAND_SESSION_CONNECTORS", "0"}}), problems);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rfind("SIDEBAND_SESSION_CONNECTORS must", 0), 0u);
}

TEST(Settings, TenantCacheIsOneSecondByDefaultAndZeroSwitchesItOff) {
    std::vector<std::string> problems;
    EXPECT_EQ(Settings::load(from({}), problems).tenantCacheMs, 1000);
    EXPECT_EQ(Settings::load(from({{"SIDEBAND_TENANT_CACHE_MS", "0"}}), problems).tenantCacheMs, 0);
    EXPECT_TRUE(problems.empty());
    Settings::load(from({{"SIDEBAND_TENANT_CACHE_MS", "-5"}}), problems);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rfind("SIDEBAND_TENANT_CACHE_MS must", 0), 0u);
}

TEST(Settings, EachTenantGetsHalfTheToolThreadsAndAQueueOf64ByDefault) {
    std::vector<std::string> problems;
    const auto defaults = Settings::load(from({}), problems);
    EXPECT_EQ(defaults.toolThreads, 8);
    EXPECT_EQ(defaults.toolConcurrencyPerTenant, 4);
    EXPECT_EQ(defaults.toolQueuePerTenant, 64);
    EXPECT_EQ(Settings::load(from({{"SIDEBAND_TOOL_THREADS", "1"}}), problems).toolConcurrencyPerTenant, 1);
    EXPECT_EQ(Settings::load(from({{"SIDEBAND_TOOL_THREADS", "5"}}), problems).toolConcurrencyPerTenant, 2);
    EXPECT_TRUE(problems.empty());
}

TEST(Settings, ReadsTheToolConcurrencyAndQueuePerTenant) {
    std::vector<std::string> problems;
    const auto s = Settings::load(from({{"SIDEBAND_TOOL_THREADS", "16"},
                                        {"SIDEBAND_TOOL_CONCURRENCY_PER_TENANT", "3"},
                                        {"SIDEBAND_TOOL_QUEUE_PER_TENANT", "0"}}),
                                  problems);
    EXPECT_TRUE(problems.empty());
    EXPECT_EQ(s.toolConcurrencyPerTenant, 3);
    EXPECT_EQ(s.toolQueuePerTenant, 0) << "0: refuse as soon as the tenant's share is busy";
}

TEST(Settings, RefusesABadToolConcurrencyOrQueueByName) {
    std::vector<std::string> problems;
    Settings::load(from({{"SIDEBAND_TOOL_CONCURRENCY_PER_TENANT", "0"}, {"SIDEBAND_TOOL_QUEUE_PER_TENANT", "lots"}}),
                   problems);
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_EQ(problems[0], "SIDEBAND_TOOL_CONCURRENCY_PER_TENANT must be an integer between 1 and 256");
    EXPECT_EQ(problems[1], "SIDEBAND_TOOL_QUEUE_PER_TENANT must be an integer between 0 and 1000000");
}

TEST(Settings, RefusesAToolConcurrencyPerTenantAboveTheToolThreads) {
    std::vector<std::string> problems;
    Settings::load(from({{"SIDEBAND_TOOL_THREADS", "4"}, {"SIDEBAND_TOOL_CONCURRENCY_PER_TENANT", "6"}}), problems);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0], "SIDEBAND_TOOL_CONCURRENCY_PER_TENANT must not exceed SIDEBAND_TOOL_THREADS (4)");
}

TEST(Settings, OneHostKeepsItsLedgerInMemoryAndRejectsNewCallsWhileDraining) {
    std::vector<std::string> problems;
    const auto s = Settings::load(from({}), problems);
    EXPECT_TRUE(problems.empty());
    EXPECT_EQ(s.ledger, "memory");
    EXPECT_FALSE(s.sharedLedger());
    EXPECT_FALSE(s.redeliverWhileDraining());
    EXPECT_EQ(s.leaseTtlMs, 30000);
}

TEST(Settings, AReplicaOfAFleetSharesItsLedgerAndLetsOpenAIRedeliverWhileDraining) {
    std::vector<std::string> problems;
    auto s = Settings::load(from({{"SIDEBAND_LEDGER", "redis://:pw@10.0.0.5:6379"}}), problems);
    EXPECT_TRUE(problems.empty());
    EXPECT_TRUE(s.sharedLedger());
    EXPECT_TRUE(s.redeliverWhileDraining());
    s = Settings::load(from({{"SIDEBAND_LEDGER", "redis://10.0.0.5"}, {"SIDEBAND_DRAIN_NEW_CALLS", "reject"}}),
                       problems);
    EXPECT_FALSE(s.redeliverWhileDraining());
}

TEST(Settings, RefusesAnUnknownLedgerOrDrainModeWithoutQuotingTheUrl) {
    std::vector<std::string> problems;
    Settings::load(from({{"SIDEBAND_LEDGER", "memcached://user:sup3r@host"}, {"SIDEBAND_DRAIN_NEW_CALLS", "maybe"}}),
                   problems);
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_EQ(problems[0], "SIDEBAND_DRAIN_NEW_CALLS must be auto, reject or redeliver");
    EXPECT_EQ(problems[1], "SIDEBAND_LEDGER must be memory or a redis://host:port URL");
}
