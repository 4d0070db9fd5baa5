#include "RedisServer.h"
#include "fleet/RedisClient.h"
#include "metrics/SidebandMetrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using sideband::fleet::RedisClient;
using sideband::fleet::RedisReply;
using sideband::fleet::RedisUrl;
using sideband::fleet::SharedStateUnavailable;
using sideband::testing::RedisServer;

TEST(RedisUrl, ParsesHostPortDbAndPassword) {
    auto url = RedisUrl::parse("redis://:s3cret@10.0.0.5:6390/2");
    EXPECT_EQ(url.host, "10.0.0.5");
    EXPECT_EQ(url.port, 6390);
    EXPECT_EQ(url.db, 2);
    EXPECT_EQ(url.password, "s3cret");
    EXPECT_EQ(url.user, "");
    EXPECT_EQ(RedisUrl::parse("redis://fleet:pw@h:1").user, "fleet");
    EXPECT_EQ(url.display(), "10.0.0.5:6390"); // never the password
    auto plain = RedisUrl::parse("redis://localhost");
    EXPECT_EQ(plain.port, 6379);
    EXPECT_EQ(plain.db, 0);
    EXPECT_EQ(RedisUrl::parse("redis://[::1]:7000").display(), "[::1]:7000");
    EXPECT_THROW(RedisUrl::parse("http://x"), std::invalid_argument);
    EXPECT_THROW(RedisUrl::parse("redis://x:notaport"), std::invalid_argument);
}

TEST(RedisClient, RunsCommandsAndScriptsAfterTheServerForgotThem) {
    RedisClient redis({sideband::testing::sharedRedisUrl()});
    const auto key = sideband::testing::uniquePrefix() + "k";
    redis.command("test", {"SET", key, "v", "PX", "10000"});
    EXPECT_EQ(redis.command("test", {"GET", key}).str, "v");
    RedisClient::Script script("return redis.call('GET', KEYS[1]) .. ARGV[1]");
    EXPECT_EQ(redis.eval("test", script, {key}, {"!"}).str, "v!");
    redis.command("test", {"SCRIPT", "FLUSH"}); // as after a Redis restart: EVALSHA answers NOSCRIPT
    EXPECT_EQ(redis.eval("test", script, {key}, {"?"}).str, "v?");
}

TEST(RedisClient, SelectsTheDatabaseFromTheUrl) {
    RedisServer server;
    RedisClient db0({server.url()});
    RedisClient db3({server.url() + "/3"});
    db3.command("test", {"SET", "only-in-3", "1"});
    EXPECT_TRUE(db0.command("test", {"GET", "only-in-3"}).isNil());
    EXPECT_EQ(db3.command("test", {"GET", "only-in-3"}).str, "1");
}

TEST(RedisClient, AuthenticatesWithThePasswordFromTheUrlAndNeverLogsIt) {
    RedisServer server;
    sideband::testing::LogCapture log;
    RedisClient admin({server.url()});
    admin.command("test", {"CONFIG", "SET", "requirepass", "s3cret-pw"}); // this connection stays authenticated
    const auto port = server.url().substr(server.url().rfind(':') + 1);
    RedisClient::Options withPassword;
    withPassword.url = "redis://:s3cret-pw@127.0.0.1:" + port;
    EXPECT_EQ(RedisClient(withPassword).command("test", {"PING"}).str, "PONG");
    RedisClient::Options wrong;
    wrong.url = "redis://:wrong-pw@127.0.0.1:" + port;
    EXPECT_THROW(RedisClient(wrong).command("test", {"PING"}), SharedStateUnavailable);
    EXPECT_EQ(log.count("redis: unreachable at 127.0.0.1:" + port), 1);
    EXPECT_EQ(log.count("s3cret"), 0);
    EXPECT_EQ(log.count("wrong-pw"), 0);
}

TEST(RedisClient, AFrozenServerTimesOutInsteadOfBlocking) {
    RedisServer server;
    sideband::metrics::MetricsRegistry metrics;
    sideband::metrics::declareSidebandMetrics(metrics);
    RedisClient::Options options{server.url()};
    options.commandTimeout = 200ms;
    RedisClient redis(options, &metrics);
    redis.command("test", {"PING"});
    EXPECT_EQ(metrics.value(sideband::metrics::name::kRedisUp), 1);
    server.freeze();
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(redis.command("test", {"PING"}), SharedStateUnavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
    EXPECT_FALSE(redis.reachable());
    EXPECT_EQ(metrics.value(sideband::metrics::name::kRedisUp), 0);
    EXPECT_EQ(metrics.value(sideband::metrics::name::kRedisErrors, {{"operation", "test"}}), 1);
    server.thaw();
    std::this_thread::sleep_for(options.retryInterval);
    EXPECT_EQ(redis.command("test", {"PING"}).str, "PONG"); // the broken connection was replaced
    EXPECT_TRUE(redis.reachable());
}
