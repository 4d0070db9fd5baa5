// What going shared costs a call: Redis round trips, counted by the server itself, and the time.
#include "RedisServer.h"
#include "fleet/RedisCallLedger.h"
#include "fleet/RedisWebhookDeduplicator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>

using namespace std::chrono_literals;
using sideband::SystemClock;
using sideband::fleet::RedisCallLedger;
using sideband::fleet::RedisClient;
using sideband::fleet::RedisWebhookDeduplicator;

namespace {

// Commands the server ran since the last CONFIG RESETSTAT, by name (INFO commandstats), those
// that scripts ran included.
std::map<std::string, long> commandCounts(RedisClient& redis) {
    std::map<std::string, long> counts;
    std::istringstream in(redis.command("test", {"INFO", "commandstats"}).str);
    std::string line;
    while (std::getline(in, line)) {
        // cmdstat_evalsha:calls=4,usec=...
        const auto colon = line.find(':');
        const auto calls = line.find("calls=");
        if (line.rfind("cmdstat_", 0) != 0 || colon == std::string::npos || calls == std::string::npos) continue;
        counts[line.substr(8, colon - 8)] = std::stol(line.substr(calls + 6));
    }
    return counts;
}

} // namespace

TEST(FleetRoundTrips, AnAcceptedCallCostsSixRoundTripsAndReservesStayFast) {
    sideband::testing::RedisServer server; // its own: the counts are server-wide
    RedisClient redis({server.url()});
    RedisCallLedger ledger(redis, "replica-a", 30s, SystemClock::instance(), nullptr, std::string("cost:"));
    RedisWebhookDeduplicator dedup(redis, {"cost:"});
    auto lifecycle = [&](const std::string& id) {
        dedup.claim("evt_" + id); // incoming delivery
        ledger.reserve(id, "t1", {100, 100});
        ledger.markAccepted(id);
        dedup.complete("evt_" + id);
        ledger.promote(id); // session started
        ledger.release(id); // ended
    };
    lifecycle("warm-up"); // loads the scripts
    redis.command("test", {"CONFIG", "RESETSTAT"});
    const auto before = redis.roundTrips();
    lifecycle("c1");
    EXPECT_EQ(redis.roundTrips() - before, 6u);
    // The server's view (commands run inside the scripts count there too, under their own names).
    auto counts = commandCounts(redis);
    EXPECT_EQ(counts["evalsha"], 4); // claim, reserve, promote, release
    EXPECT_EQ(counts["script|load"], 0);

    constexpr int kCalls = 2000;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i)
        lifecycle("bench" + std::to_string(i));
    const auto perCall = (std::chrono::steady_clock::now() - started) / kCalls;
    std::printf("[ FLEET    ] %d calls, %ld us per call for 6 round trips (loopback, one connection)\n", kCalls,
                long(std::chrono::duration_cast<std::chrono::microseconds>(perCall).count()));
    EXPECT_LT(perCall, 50ms); // a bound for a loaded CI machine, not a benchmark
}
