// Several replicas of the real host behind one Redis (ledger, webhook ids, call ends) and one
// database, driven by signed deliveries against the Realtime simulator: the promises of a fleet.
#include "Eventually.h"
#include "HostProcess.h"
#include "RedisServer.h"
#include "TestCertificates.h"

#include "RealtimeSimulator.h"
#include "WebhookSender.h"
#include "app/Host.h"
#include "metrics/SidebandMetrics.h"
#include "tenants/TenantStoreFactory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;

namespace {

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kApiKey = "sk-test-fleet";
constexpr const char* kAccepted = R"("accepted":true)";
constexpr const char* kCapacity = R"({"ok":true,"rejected":"capacity"})";

// One replica: the real Host in this process, plain HTTP, with its own signed sender.
struct Replica {
    std::unique_ptr<Host> host;
    std::unique_ptr<simulator::WebhookSender> sender;
};

class FleetTest : public ::testing::Test {
protected:
    FleetTest() : prefix_(uniquePrefix()) {
        simulator::SimulatorOptions options;
        options.expectedApiKey = kApiKey;
        options.httpThreads = 64;
        simulator_ = std::make_unique<simulator::RealtimeSimulator>(options);
        simulator_->start();
        boost::filesystem::create_directory(dir_.file("plugins"));
    }

    ~FleetTest() override {
        for (auto& replica : replicas_)
            replica.host->stop();
        simulator_->stop();
    }

    std::string database() const { return "sqlite:" + dir_.file("sideband.db"); }

    Settings settingsFor(const std::string& replicaId, const std::string& redisUrl) const {
        Settings s;
        s.listen = "127.0.0.1:0";
        s.insecureHttp = true;
        s.webhookSecret = kSecret;
        s.openaiApiKey = kApiKey;
        s.openaiBaseUrl = simulator_->baseUrl();
        s.database = database();
        s.pluginDir = dir_.file("plugins");
        s.stateDir = dir_.path();
        s.pluginIsolation = "in_process";
        s.httpThreads = 16;
        s.maxConcurrentCalls = 100;
        s.ledger = redisUrl;
        s.redisPrefix = prefix_;
        s.replicaId = replicaId;
        return s;
    }

    Replica& startReplica(const std::string& replicaId, const std::function<void(Settings&)>& tune = {},
                          const std::string& redisUrl = sharedRedisUrl()) {
        auto settings = settingsFor(replicaId, redisUrl);
        if (tune) tune(settings);
        Replica replica;
        replica.host = std::make_unique<Host>(settings);
        replica.host->start();
        replica.sender = senderFor(replica.host->port());
        replicas_.push_back(std::move(replica));
        return replicas_.back();
    }

    static std::unique_ptr<simulator::WebhookSender> senderFor(unsigned short port) {
        simulator::WebhookSenderOptions options;
        options.url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/openai/webhook";
        options.secret = kSecret;
        return std::make_unique<simulator::WebhookSender>(options);
    }

    void addTenant(const std::string& id, const std::string& number, std::optional<int> callLimit = std::nullopt) {
        tenants::TenantDefinition tenant;
        tenant.id = id;
        tenant.name = id;
        tenant.callLimit = callLimit;
        tenant.numbers = {number};
        tenant.configJson = "{}";
        tenant.instructions = tenants::Instructions{"You are a helpful receptionist.", "Thanks for calling!"};
        tenants::openTenantStore(database())->upsertTenant(tenant);
    }

    static simulator::WebhookEvent incoming(const std::string& callId, const std::string& to = "+18005550100") {
        simulator::IncomingCall call;
        call.callId = callId;
        call.to = to;
        call.fromName = "Alice";
        return simulator::makeIncomingCallEvent(call);
    }

    simulator::WebhookDelivery deliver(std::size_t replica, const simulator::WebhookEvent& event) {
        return replicas_.at(replica).sender->deliver(event);
    }

    Host& host(std::size_t replica) { return *replicas_.at(replica).host; }
    int heldInRedis() { return host(0).ledger().total().inUse(); }
    std::size_t accepts(const std::string& callId) {
        const auto requests = simulator_->restRequests(callId);
        return std::count_if(requests.begin(), requests.end(), [](const auto& r) { return r.action == "accept"; });
    }
    std::size_t sessionsOf(const std::string& callId) {
        const auto sessions = simulator_->sessions();
        return std::count_if(sessions.begin(), sessions.end(), [&](const auto& s) { return s->callId() == callId; });
    }

    TempDir dir_;
    const std::string prefix_;
    std::unique_ptr<simulator::RealtimeSimulator> simulator_;
    std::deque<Replica> replicas_;
};

// Logs captured from before the simulator starts until after every replica has stopped (a base
// class is built before and destroyed after FleetTest): swapping spdlog's default logger while
// other threads log is not safe.
struct CapturedLogs {
    LogCapture log;
};
class FleetLogTest : protected CapturedLogs, public FleetTest {};

} // namespace

TEST_F(FleetTest, TenThousandDeliveriesOverThreeReplicasNeverHoldMoreThanTheGlobalLimit) {
    constexpr int kDeliveries = 10000;
    constexpr int kClients = 24;
    const std::vector<std::string> numbers{"+18005550100", "+18005550101", "+18005550102", "+18005550103"};
    for (std::size_t t = 0; t < numbers.size(); ++t)
        addTenant("tenant_" + std::to_string(t), numbers[t], 1000); // per-tenant limits above the global 100
    for (const char* id : {"r0", "r1", "r2"})
        startReplica(id);

    std::atomic<bool> sampling{true};
    std::atomic<int> maxHeld{0};
    std::atomic<std::size_t> maxSessions{0};
    std::thread sampler([&] {
        while (sampling) {
            const int held = heldInRedis();
            const auto sessions = simulator_->openSessions();
            if (held > maxHeld) maxHeld = held;
            if (sessions > maxSessions) maxSessions = sessions;
            std::this_thread::sleep_for(2ms);
        }
    });

    std::mutex mutex;
    std::map<std::string, std::size_t> acceptedBy; // call id -> replica that accepted it
    std::atomic<int> capacity{0}, other{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c)
        clients.emplace_back([&, c] {
            for (int i = c; i < kDeliveries; i += kClients) {
                const auto callId = "rtc_fleet_" + std::to_string(i);
                const std::size_t replica = i % 3; // round robin
                const auto answer = deliver(replica, incoming(callId, numbers[i % numbers.size()]));
                if (answer.status == 200 && answer.body.find(kAccepted) != std::string::npos) {
                    std::lock_guard lock(mutex);
                    acceptedBy[callId] = replica;
                } else if (answer.status == 200 && answer.body == kCapacity) {
                    ++capacity;
                } else {
                    ++other;
                }
            }
        });
    for (auto& client : clients)
        client.join();
    EXPECT_TRUE(eventually([&] { return simulator_->openSessions() == 100; }, 30s)) << simulator_->openSessions();
    sampling = false;
    sampler.join();

    EXPECT_EQ(acceptedBy.size(), 100u);
    EXPECT_EQ(capacity, kDeliveries - 100);
    EXPECT_EQ(other, 0);
    EXPECT_LE(maxHeld, 100);
    EXPECT_LE(maxSessions, 100u);
    EXPECT_EQ(heldInRedis(), 100);
    std::set<std::size_t> acceptors;
    for (const auto& [callId, replica] : acceptedBy)
        acceptors.insert(replica);
    EXPECT_EQ(acceptors.size(), 3u) << "every replica accepted some of the calls";

    // Each ended webhook goes to a replica other than the one holding the call's session.
    for (const auto& [callId, replica] : acceptedBy)
        EXPECT_EQ(deliver((replica + 1) % 3, simulator::makeCallEvent("realtime.call.ended", callId)).status, 200);
    EXPECT_TRUE(eventually([&] { return heldInRedis() == 0; }, 30s)) << heldInRedis();
    EXPECT_TRUE(eventually([&] { return simulator_->openSessions() == 0; }, 30s))
        << simulator_->openSessions() << " sessions still open: the owners were not told";
    for (std::size_t r = 0; r < 3; ++r)
        EXPECT_TRUE(eventually([&] { return host(r).sessions().activeSessions() == 0; })) << "replica " << r;
}

TEST_F(FleetTest, TheSameDeliveryToAllThreeReplicasAtOnceIsProcessedOnce) {
    addTenant("acme", "+18005550100");
    for (const char* id : {"r0", "r1", "r2"})
        startReplica(id);
    const auto event = incoming("rtc_same");

    std::promise<void> go;
    auto start = go.get_future().share();
    std::vector<std::future<simulator::WebhookDelivery>> answers;
    for (std::size_t r = 0; r < 3; ++r)
        answers.push_back(std::async(std::launch::async, [&, r, start] {
            start.wait();
            return deliver(r, event);
        }));
    go.set_value();
    int accepted = 0;
    for (auto& answer : answers) {
        const auto delivery = answer.get();
        if (delivery.body.find(kAccepted) != std::string::npos)
            ++accepted;
        else // another replica has it: deduped, or in flight (OpenAI's redelivery is then deduped)
            EXPECT_THAT(delivery.body,
                        AnyOf(R"({"ok":true,"deduped":true})", R"({"detail":"Delivery already in progress"})"));
    }
    EXPECT_EQ(accepted, 1);
    ASSERT_TRUE(simulator_->waitForSession("rtc_same", 10s));
    EXPECT_EQ(deliver(2, event).body, R"({"ok":true,"deduped":true})");
    EXPECT_EQ(accepts("rtc_same"), 1u);
    EXPECT_EQ(sessionsOf("rtc_same"), 1u);
    EXPECT_EQ(heldInRedis(), 1);
}

TEST_F(FleetTest, ARedeliveryWithANewWebhookIdOnAnotherReplicaNeverStartsASecondSession) {
    addTenant("acme", "+18005550100");
    startReplica("r0");
    startReplica("r1");
    ASSERT_THAT(deliver(0, incoming("rtc_twice")).body, HasSubstr(kAccepted));
    ASSERT_TRUE(simulator_->waitForSession("rtc_twice", 10s));
    // OpenAI sent the call again as a new event: the call id, held in the shared ledger, decides.
    EXPECT_EQ(deliver(1, incoming("rtc_twice")).body,
              R"({"ok":true,"duplicate_call_id":true,"reason":"already_accepted"})");
    EXPECT_EQ(accepts("rtc_twice"), 1u);
    EXPECT_EQ(sessionsOf("rtc_twice"), 1u);
}

TEST_F(FleetTest, AnEndedWebhookOnAnotherReplicaClosesTheOwnersSessionAndFreesTheSlot) {
    addTenant("acme", "+18005550100");
    startReplica("r0");
    startReplica("r1");
    ASSERT_THAT(deliver(0, incoming("rtc_owned")).body, HasSubstr(kAccepted));
    auto session = simulator_->waitForSession("rtc_owned", 10s);
    ASSERT_TRUE(session);
    ASSERT_TRUE(eventually([&] { return host(0).sessions().activeSessions() == 1; }));
    EXPECT_EQ(host(0).ledger().owner("rtc_owned"), "r0");

    EXPECT_EQ(deliver(1, simulator::makeCallEvent("realtime.call.ended", "rtc_owned")).body, R"({"ok":true})");
    EXPECT_TRUE(session->waitForClose(10s)) << "r0 was not told over the call-end bus";
    EXPECT_EQ(session->closeInfo().initiator, "host");
    EXPECT_TRUE(eventually([&] { return host(0).sessions().activeSessions() == 0; }));
    EXPECT_EQ(heldInRedis(), 0);
    // The end is recorded once, by whichever replica freed the slot first: the one that got the
    // webhook, or the owner closing its session on the bus's word (a race either may win).
    const auto ended = [&](std::size_t r, const char* reason) {
        return host(r).metrics().value(metrics::name::kCallsEnded, {{"tenant", "acme"}, {"reason", reason}});
    };
    EXPECT_TRUE(eventually([&] { return ended(0, "ended") + ended(1, "ended") == 1; }));
    EXPECT_EQ(ended(0, "ended") + ended(1, "ended"), 1);
}

TEST_F(FleetTest, ADrainingReplicaAnswers503AndAnotherReplicaAcceptsTheRedelivery) {
    addTenant("acme", "+18005550100");
    startReplica("r0");
    startReplica("r1");
    EXPECT_EQ(host(0).drain(100ms), 0u);
    EXPECT_FALSE(host(0).ready());

    const auto event = incoming("rtc_drained");
    const auto refused = deliver(0, event);
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(refused.body, R"({"detail":"Server draining"})");
    EXPECT_TRUE(simulator_->restRequests("rtc_drained").empty()) << "neither accepted nor rejected";
    EXPECT_EQ(heldInRedis(), 0);

    // OpenAI's redelivery (same webhook id) reaches a replica that is up: not deduped, accepted.
    EXPECT_THAT(deliver(1, event).body, HasSubstr(kAccepted));
    EXPECT_TRUE(simulator_->waitForSession("rtc_drained", 10s));
    EXPECT_EQ(accepts("rtc_drained"), 1u);
    EXPECT_EQ(host(0).metrics().value(metrics::name::kCallsRedelivered, {{"reason", "draining"}}), 1);
}

TEST_F(FleetLogTest, RedisDownRejectsNewCallsAsCapacityWhileCallsInProgressGoOnAndRecoversByItself) {
    RedisServer redis; // a private server: this test stops it
    addTenant("acme", "+18005550100");
    startReplica("r0", {}, redis.url());
    startReplica("r1", {}, redis.url());
    ASSERT_THAT(deliver(0, incoming("rtc_before")).body, HasSubstr(kAccepted));
    auto session = simulator_->waitForSession("rtc_before", 10s);
    ASSERT_TRUE(session);

    redis.stop();
    EXPECT_EQ(deliver(1, incoming("rtc_during")).body, kCapacity); // fail closed
    EXPECT_TRUE(simulator_->waitForRestRequest("rtc_during", "reject", 10s));
    EXPECT_EQ(accepts("rtc_during"), 0u);
    EXPECT_EQ(deliver(1, incoming("rtc_during_2")).body, kCapacity);
    EXPECT_EQ(host(1).metrics().value(metrics::name::kRedisUp), 0);
    // One line per replica and state change (r0 notices through its call-end bus subscription).
    EXPECT_TRUE(eventually([&] { return log.count("redis: unreachable at") == 2; })) << log.text();
    EXPECT_TRUE(session->isConnected()) << "the call in progress goes on";

    redis.start();
    EXPECT_TRUE(eventually(
        [&] {
            return deliver(1, incoming(simulator::randomId("rtc_after_"))).body.find(kAccepted) != std::string::npos;
        },
        20s));
    EXPECT_EQ(host(1).metrics().value(metrics::name::kRedisUp), 1);
    EXPECT_TRUE(eventually([&] { return log.count("redis: reachable again") == 2; })) << log.text();
    EXPECT_EQ(log.count("redis: unreachable at"), 2) << "every failed delivery logged again:\n" << log.text();
    EXPECT_TRUE(session->isConnected());
}

TEST_F(FleetTest, ASigkilledReplicaLosesItsSlotsWithinTheLeaseAndOneSweepAndTheOthersKeepTheirs) {
    constexpr int kLeaseMs = 1000;
    addTenant("acme", "+18005550100");
    startReplica("r0", [](Settings& s) { s.leaseTtlMs = kLeaseMs; });
    startReplica("r1", [](Settings& s) { s.leaseTtlMs = kLeaseMs; });

    // The third replica is the real binary, so it can be killed for real.
    const auto port = freePort();
    HostProcess killed(SIDEBAND_HOST_BINARY, {},
                       {{"SIDEBAND_LISTEN", "127.0.0.1:" + std::to_string(port)},
                        {"SIDEBAND_INSECURE_HTTP", "1"},
                        {"SIDEBAND_DB", database()},
                        {"SIDEBAND_PLUGIN_DIR", dir_.file("plugins")},
                        {"SIDEBAND_STATE_DIR", dir_.path()},
                        {"SIDEBAND_PLUGIN_ISOLATION", "in_process"},
                        {"OPENAI_BASE_URL", simulator_->baseUrl()},
                        {"OPENAI_WEBHOOK_SECRET", kSecret},
                        {"OPENAI_API_KEY", kApiKey},
                        {"SIDEBAND_LEDGER", sharedRedisUrl()},
                        {"SIDEBAND_REDIS_PREFIX", prefix_},
                        {"SIDEBAND_REPLICA_ID", "r_killed"},
                        {"SIDEBAND_LEASE_TTL_MS", std::to_string(kLeaseMs)}});
    ASSERT_TRUE(killed.waitForHttp(port, "/readyz", 20000)) << killed.output();
    const auto killedSender = senderFor(port);

    std::vector<std::string> survivors;
    for (int i = 0; i < 30; ++i) {
        const auto callId = "rtc_killed_" + std::to_string(i);
        ASSERT_THAT(killedSender->deliver(incoming(callId)).body, HasSubstr(kAccepted)) << killed.output();
    }
    for (int i = 0; i < 10; ++i)
        for (std::size_t r = 0; r < 2; ++r) {
            const auto callId = "rtc_r" + std::to_string(r) + "_" + std::to_string(i);
            ASSERT_THAT(deliver(r, incoming(callId)).body, HasSubstr(kAccepted));
            survivors.push_back(callId);
        }
    ASSERT_TRUE(eventually([&] { return simulator_->openSessions() == 50; }, 20s)) << simulator_->openSessions();
    EXPECT_EQ(heldInRedis(), 50);

    killed.signal(SIGKILL);
    const auto killedAt = std::chrono::steady_clock::now();
    // Within the lease plus one sweep (every 5 s) of a surviving replica, and some slack for CI.
    EXPECT_TRUE(eventually([&] { return heldInRedis() == 20; }, 20s)) << heldInRedis();
    std::cout
        << "slots of the killed replica freed after "
        << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killedAt).count()
        << " ms (lease " << kLeaseMs << " ms, sweep every 5 s)\n";
    for (const auto& callId : survivors) {
        EXPECT_EQ(sessionsOf(callId), 1u);
        auto session = simulator_->session(callId);
        ASSERT_TRUE(session);
        EXPECT_TRUE(session->isConnected()) << callId << " was touched";
    }
    // OpenAI still had the killed replica's calls: the sweeping replica hung them up there.
    EXPECT_TRUE(eventually([&] { return simulator_->waitForRestRequest("rtc_killed_29", "hangup", 0ms).has_value(); }));
    // Recorded by the sweeping replica once per slot, after the script freed them all.
    const auto lost = [&] {
        return host(0).metrics().value(metrics::name::kCallsEnded, {{"tenant", "acme"}, {"reason", "replica_lost"}}) +
               host(1).metrics().value(metrics::name::kCallsEnded, {{"tenant", "acme"}, {"reason", "replica_lost"}});
    };
    EXPECT_TRUE(eventually([&] { return lost() == 30; })) << lost();
}
