// CachingTenantStore: the three per-call reads come from memory for the TTL; failures never do.
#include "FakeTenantStore.h"
#include "Gate.h"
#include "tenants/CachingTenantStore.h"

#include <gtest/gtest.h>

#include <future>

using namespace std::chrono_literals;
using sideband::ManualClock;
using sideband::testing::FakeTenantStore;
using sideband::testing::Gate;
using namespace sideband::tenants;

namespace {

class CachingTenantStoreTest : public ::testing::Test {
protected:
    CachingTenantStoreTest() {
        auto fake = std::make_unique<FakeTenantStore>();
        fake_ = fake.get();
        fake_->addTenant("acme", "+15550001", {true, 5, Instructions{"Be kind.", "Hello!"}, R"({"voice":"marin"})"});
        cache_ = std::make_unique<CachingTenantStore>(std::move(fake), 1000ms, clock_);
    }

    ManualClock clock_{std::chrono::seconds(1'700'000'000)};
    FakeTenantStore* fake_ = nullptr;
    std::unique_ptr<CachingTenantStore> cache_;
};

TEST_F(CachingTenantStoreTest, RepeatedReadsWithinTheTtlAskTheStoreOnce) {
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(cache_->tenantForNumber("+15550001"), "acme");
        EXPECT_EQ(cache_->instructions("acme").prompt, "Be kind.");
        EXPECT_EQ(cache_->config("acme").settings->getValue<std::string>("voice"), "marin");
        clock_.advance(300ms);
    }
    EXPECT_EQ(fake_->reads("resolve"), 1);
    EXPECT_EQ(fake_->reads("instructions"), 1);
    EXPECT_EQ(fake_->reads("config"), 1);
}

TEST_F(CachingTenantStoreTest, ReadsAfterTheTtlSeeTheStoreAsItIsNow) {
    EXPECT_EQ(cache_->instructions("acme").greeting, "Hello!");
    fake_->addTenant("acme", "+15550001", {true, 5, Instructions{"Be brief.", "Hi!"}, "{}"});
    clock_.advance(999ms);
    EXPECT_EQ(cache_->instructions("acme").greeting, "Hello!");
    clock_.advance(1ms);
    EXPECT_EQ(cache_->instructions("acme").greeting, "Hi!");
    EXPECT_EQ(fake_->reads("instructions"), 2);
}

TEST_F(CachingTenantStoreTest, AnUnknownNumberIsRememberedUntilInvalidated) {
    EXPECT_EQ(cache_->tenantForNumber("+15550002"), std::nullopt);
    fake_->addTenant("beta", "+15550002", {true, {}, Instructions{"Hi.", ""}, "{}"});
    EXPECT_EQ(cache_->tenantForNumber("+15550002"), std::nullopt);
    EXPECT_EQ(fake_->reads("resolve"), 1);

    cache_->invalidate(); // SIGHUP
    EXPECT_EQ(cache_->tenantForNumber("+15550002"), "beta");
    EXPECT_EQ(fake_->reads("resolve"), 2);
}

TEST_F(CachingTenantStoreTest, AStoreThatIsDownIsAskedAgainOnEveryCall) {
    fake_->setUnavailable(true);
    for (int i = 0; i < 2; ++i) {
        try {
            cache_->instructions("acme");
            FAIL() << "expected a StoreError";
        } catch (const StoreError& e) {
            EXPECT_EQ(e.code(), StoreErrorCode::Unavailable);
        }
    }
    fake_->setUnavailable(false);
    EXPECT_EQ(cache_->instructions("acme").prompt, "Be kind.");
    EXPECT_EQ(fake_->reads("instructions"), 3);
}

TEST_F(CachingTenantStoreTest, TypedErrorsPassThroughAndAreNotRemembered) {
    EXPECT_THROW(
        {
            try {
                cache_->config("nobody");
            } catch (const StoreError& e) {
                EXPECT_EQ(e.code(), StoreErrorCode::TenantNotConfigured);
                throw;
            }
        },
        StoreError);
    fake_->addTenant("nobody", "+15550003", {true, {}, Instructions{"Hi.", ""}, "{}"});
    EXPECT_EQ(cache_->config("nobody").tenantId, "nobody");
    EXPECT_EQ(fake_->reads("config"), 2);
}

TEST_F(CachingTenantStoreTest, AWriteThroughTheCacheDropsWhatItRemembered) {
    cache_->instructions("acme");
    cache_->tenantForNumber("+15550001");
    TenantDefinition edited;
    edited.id = "acme";
    cache_->upsertTenant(edited);
    cache_->instructions("acme");
    cache_->tenantForNumber("+15550001");
    EXPECT_EQ(fake_->reads("instructions"), 2);
    EXPECT_EQ(fake_->reads("resolve"), 2);
}

TEST_F(CachingTenantStoreTest, CallRecordsGoStraightToTheStore) {
    CallRecord record;
    record.callId = "rtc_1";
    record.outcome = "accepted";
    cache_->saveCall(record);
    cache_->recordCallEnded("rtc_1", "hangup", clock_.now());
    const auto stored = fake_->findCall("rtc_1");
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->outcome, "accepted");
    EXPECT_EQ(stored->endReason, "hangup");
}

TEST_F(CachingTenantStoreTest, ARevokedWebTokenStopsWorkingAtOnce) {
    WebToken token;
    token.id = "wt_00000000000a";
    token.tenantId = "acme";
    cache_->saveWebToken(token, "hash-a");
    ASSERT_TRUE(cache_->webTokenBySecretHash("hash-a"));
    EXPECT_TRUE(cache_->revokeWebToken("acme", "wt_00000000000a"));
    EXPECT_EQ(cache_->webTokenBySecretHash("hash-a"), std::nullopt) << "within the TTL, no clock advance";
    EXPECT_EQ(fake_->reads("web_token"), 2);
    ASSERT_EQ(cache_->webTokens("acme").size(), 1u);
}

// A store whose instructions() can be held, as a database read waits behind a commit.
class HeldInstructionsStore final : public FakeTenantStore {
public:
    Instructions instructions(const std::string& tenantId) override {
        gate.pass();
        return FakeTenantStore::instructions(tenantId);
    }
    Gate gate;
};

TEST(CachingTenantStoreRefresh, WhileOneCallRereadsAnExpiredAnswerTheOthersGetTheLastOne) {
    ManualClock clock{std::chrono::seconds(1'700'000'000)};
    auto held = std::make_unique<HeldInstructionsStore>();
    auto* store = held.get();
    store->addTenant("acme", "+15550001", {true, 5, Instructions{"Be kind.", "Hello!"}, "{}"});
    CachingTenantStore cache(std::move(held), 1000ms, clock);
    EXPECT_EQ(cache.instructions("acme").prompt, "Be kind.");
    store->addTenant("acme", "+15550001", {true, 5, Instructions{"Be brief.", "Hi!"}, "{}"});
    clock.advance(1000ms);
    store->gate.close();
    auto refresh = std::async(std::launch::async, [&] { return cache.instructions("acme").prompt; });
    ASSERT_TRUE(store->gate.waitUntilHeld());
    EXPECT_EQ(cache.instructions("acme").prompt, "Be kind.") << "served at once, not behind the held read";
    store->gate.open();
    EXPECT_EQ(refresh.get(), "Be brief.");
    EXPECT_EQ(cache.instructions("acme").prompt, "Be brief.");
    EXPECT_EQ(store->reads("instructions"), 2) << "the first read and the one refresh";
}

TEST_F(CachingTenantStoreTest, AFailedRefreshForgetsTheLastAnswer) {
    EXPECT_EQ(cache_->instructions("acme").prompt, "Be kind.");
    clock_.advance(1000ms);
    fake_->setUnavailable(true);
    EXPECT_THROW(cache_->instructions("acme"), StoreError);
    EXPECT_THROW(cache_->instructions("acme"), StoreError) << "a down store is asked again, not papered over";
    EXPECT_EQ(fake_->reads("instructions"), 3);
}

TEST(CachingTenantStoreLimits, NumbersDialedByStrangersCannotGrowTheCacheWithoutBound) {
    ManualClock clock{std::chrono::seconds(1'700'000'000)};
    CachingTenantStore cache(std::make_unique<FakeTenantStore>(), 1000ms, clock, 3);
    for (int n = 0; n < 99; ++n) { // ends with a full table
        EXPECT_EQ(cache.tenantForNumber("+1555000" + std::to_string(1000 + n)), std::nullopt);
        EXPECT_LE(cache.size(), 3u);
    }
    clock.advance(1000ms); // all expired: dropped to make room, the fresh one kept
    EXPECT_EQ(cache.tenantForNumber("+15559999999"), std::nullopt);
    EXPECT_EQ(cache.size(), 1u);
}

} // namespace
