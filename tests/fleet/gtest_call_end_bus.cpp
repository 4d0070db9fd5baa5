#include "Eventually.h"
#include "RedisServer.h"
#include "fleet/CallEndBus.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

using namespace std::chrono_literals;
using sideband::fleet::CallEndBus;
using sideband::fleet::RedisClient;
using sideband::testing::eventually;

namespace {

struct Received {
    void add(const std::string& callId, const std::string& reason) {
        std::lock_guard lock(mutex);
        ends.emplace_back(callId, reason);
    }
    std::vector<std::pair<std::string, std::string>> all() {
        std::lock_guard lock(mutex);
        return ends;
    }
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> ends;
};

RedisClient::Options options(const std::string& url) {
    RedisClient::Options o;
    o.url = url;
    o.commandTimeout = 300ms;
    o.retryInterval = 20ms;
    return o;
}

} // namespace

TEST(CallEndBus, DeliversAPublishedEndToTheOwnersHandlerOnly) {
    const auto prefix = sideband::testing::uniquePrefix();
    RedisClient redisA(options(sideband::testing::sharedRedisUrl()));
    RedisClient redisB(options(sideband::testing::sharedRedisUrl()));
    CallEndBus busA(redisA, "replica-a", nullptr, {prefix});
    CallEndBus busB(redisB, "replica-b", nullptr, {prefix});
    Received atA, atB;
    busA.start([&](const std::string& c, const std::string& r) { atA.add(c, r); });
    busB.start([&](const std::string& c, const std::string& r) { atB.add(c, r); });
    ASSERT_TRUE(eventually([&] { return busA.subscribed() && busB.subscribed(); }));

    EXPECT_TRUE(busB.publish("replica-a", "rtc_1", "hangup"));
    ASSERT_TRUE(eventually([&] { return atA.all().size() == 1; }));
    EXPECT_EQ(atA.all()[0], std::make_pair(std::string("rtc_1"), std::string("hangup")));
    EXPECT_TRUE(atB.all().empty());
    EXPECT_FALSE(busA.publish("replica-gone", "rtc_2", "ended")); // nobody listening: said, not thrown
}

TEST(CallEndBus, TheSubscriberResubscribesAfterARedisRestart) {
    sideband::testing::RedisServer server;
    RedisClient redisA(options(server.url()));
    RedisClient redisB(options(server.url()));
    CallEndBus::Options busOptions;
    busOptions.keyPrefix = sideband::testing::uniquePrefix();
    busOptions.reconnectDelay = 50ms;
    CallEndBus owner(redisA, "replica-a", nullptr, busOptions);
    CallEndBus other(redisB, "replica-b", nullptr, busOptions);
    Received received;
    owner.start([&](const std::string& c, const std::string& r) { received.add(c, r); });
    ASSERT_TRUE(eventually([&] { return owner.subscribed(); }));

    server.stop();
    EXPECT_TRUE(eventually([&] { return !owner.subscribed(); }));
    EXPECT_FALSE(other.publish("replica-a", "rtc_lost", "ended")); // lost: the slot was released already
    server.start();
    ASSERT_TRUE(eventually([&] { return owner.subscribed(); }));
    ASSERT_TRUE(eventually([&] { return other.publish("replica-a", "rtc_1", "ended"); }));
    ASSERT_TRUE(eventually([&] { return !received.all().empty(); }));
    EXPECT_EQ(received.all().back().first, "rtc_1");
    owner.stop();
    EXPECT_FALSE(owner.subscribed());
}
