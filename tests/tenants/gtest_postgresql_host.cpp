// The real host (HTTPS, the Realtime simulator as OpenAI) with SIDEBAND_DB=postgresql://...: a call
// end to end with its record in PostgreSQL; PostgreSQL stopped -> the store-down behaviour of
// tests/calls (downtime instructions on the last-known route); PostgreSQL back -> calls are routed
// normally again, with no host restart.
#include "Eventually.h"
#include "HostWithSimulator.h"
#include "PostgresServer.h"

#include "calls/CallPipeline.h"
#include "metrics/SidebandMetrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

class PostgreSqlHostTest : public ::testing::Test {
protected:
    PostgreSqlHostTest()
        : env_([this](Settings& settings) {
              settings.database = server_.url() + "?connect_timeout_ms=1000&statement_timeout_ms=1000";
              settings.tenantCacheMs = 0; // every call reads the store
          }) {
        env_.addTenant("tenant_123", "+18005550123", R"({"model":"gpt-realtime","voice":"marin"})");
    }

    // A column of a call's row, read by a connection of its own (what another replica sees).
    std::string callColumn(const std::string& callId, const std::string& column) {
        try {
            return postgresQuery(server_.url(), "SELECT " + column + " FROM calls WHERE call_id = '" + callId + "'");
        } catch (const std::exception&) {
            return "";
        }
    }
    bool eventuallyRecorded(const std::string& callId, const std::string& column, const std::string& value) {
        return eventually(
            [&] {
                if (callColumn(callId, column) == value) return true;
                std::this_thread::sleep_for(50ms);
                return false;
            },
            20s);
    }
    double metric(const char* name, const metrics::Labels& labels) { return env_.host().metrics().value(name, labels); }

    PostgresServer server_; // of this test's own: the test stops it
    HostWithSimulator env_;
};

TEST_F(PostgreSqlHostTest, CallsFallBackWhileItIsDownAndRouteNormallyOnceItIsBack) {
    EXPECT_EQ(env_.incomingCall("rtc_pg_up").body,
              R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})");
    ASSERT_EQ(env_.simulator().restRequests("rtc_pg_up").size(), 1u);
    EXPECT_THAT(env_.simulator().restRequests("rtc_pg_up")[0].body, HasSubstr("You are a helpful receptionist."));
    EXPECT_TRUE(eventuallyRecorded("rtc_pg_up", "outcome", "accepted"));

    server_.stop();
    const auto down = env_.incomingCall("rtc_pg_down");
    EXPECT_EQ(down.status, 200);
    EXPECT_EQ(down.body, R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":true})");
    const auto requests = env_.simulator().restRequests("rtc_pg_down");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_THAT(requests[0].body, HasSubstr(calls::kDefaultDowntimePrompt));
    EXPECT_EQ(metric(metrics::name::kFallbacks, {{"tenant", "tenant_123"}}), 1);

    server_.start();
    EXPECT_EQ(env_.incomingCall("rtc_pg_back").body,
              R"({"ok":true,"accepted":true,"tenant_id":"tenant_123","fallback":false})");
    ASSERT_EQ(env_.simulator().restRequests("rtc_pg_back").size(), 1u);
    EXPECT_THAT(env_.simulator().restRequests("rtc_pg_back")[0].body, HasSubstr("You are a helpful receptionist."));
    EXPECT_EQ(metric(metrics::name::kFallbacks, {{"tenant", "tenant_123"}}), 1);
    EXPECT_TRUE(eventuallyRecorded("rtc_pg_back", "outcome", "accepted"));
    // The record of the call taken while PostgreSQL was down is written once it is back (the
    // call-record writer retries an unavailable store for 30 s).
    EXPECT_TRUE(eventuallyRecorded("rtc_pg_down", "fallback", "1"));
}

} // namespace
