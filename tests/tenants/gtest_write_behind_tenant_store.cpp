// WriteBehindTenantStore: call records are written on the store's own thread, in order; readers
// see every earlier write; what the store refuses is retried, then reported once.
#include "FakeTenantStore.h"
#include "Gate.h"
#include "tenants/WriteBehindTenantStore.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <stdexcept>

using namespace std::chrono_literals;
using sideband::testing::FakeTenantStore;
using sideband::testing::Gate;
using namespace sideband::tenants;

namespace {

// Forwards to a FakeTenantStore the test keeps; saveCall can be held at a gate.
class GatedStore final : public TenantStore {
public:
    explicit GatedStore(std::shared_ptr<FakeTenantStore> fake) : fake_(std::move(fake)) {}
    void close() { gate_.close(); }
    void open() { gate_.open(); }
    bool waitUntilHeld() { return gate_.waitUntilHeld(); }

    std::optional<std::string> tenantForNumber(const std::string& e164) override {
        return fake_->tenantForNumber(e164);
    }
    Instructions instructions(const std::string& id) override { return fake_->instructions(id); }
    TenantConfig config(const std::string& id) override { return fake_->config(id); }
    void upsertTenant(const TenantDefinition& tenant) override { fake_->upsertTenant(tenant); }
    std::vector<TenantDefinition> listTenants() override { return fake_->listTenants(); }
    void saveCall(const CallRecord& record) override {
        gate_.pass();
        if (record.callId == "rtc_boom") throw std::runtime_error("not a StoreError");
        fake_->saveCall(record);
    }
    void recordCallEnded(const std::string& id, const std::string& reason, CallRecord::time_point at) override {
        fake_->recordCallEnded(id, reason, at);
    }
    std::optional<CallRecord> findCall(const std::string& id) override { return fake_->findCall(id); }
    void appendTranscript(const std::string& id, const TranscriptLine& line) override {
        fake_->appendTranscript(id, line);
    }
    std::vector<TranscriptLine> transcript(const std::string& id) override { return fake_->transcript(id); }
    void saveWebToken(const WebToken& token, const std::string& hash) override { fake_->saveWebToken(token, hash); }
    std::vector<WebToken> webTokens(const std::string& tenantId) override { return fake_->webTokens(tenantId); }
    bool revokeWebToken(const std::string& tenantId, const std::string& tokenId) override {
        return fake_->revokeWebToken(tenantId, tokenId);
    }
    std::optional<WebToken> webTokenBySecretHash(const std::string& hash) override {
        return fake_->webTokenBySecretHash(hash);
    }

    // Like a database's transaction: the group's writes are made, or (refused) none is.
    bool writeAtomically(const std::function<void(TenantStore&)>& writes) override {
        {
            std::lock_guard lock(mutex_);
            if (!groups_) return false;
            if (refuseGroups_) {
                groupSizes_.push_back(0);
                throw StoreError(StoreErrorCode::Unavailable, "database is locked");
            }
        }
        const auto before = fake_->reads("save_call");
        writes(*this);
        std::lock_guard lock(mutex_);
        groupSizes_.push_back(fake_->reads("save_call") - before);
        return true;
    }
    void acceptGroups(bool accept, bool refuse = false) {
        std::lock_guard lock(mutex_);
        groups_ = accept;
        refuseGroups_ = refuse;
    }
    std::vector<int> groupSizes() { // saveCalls per group; 0: refused
        std::lock_guard lock(mutex_);
        return groupSizes_;
    }

private:
    std::shared_ptr<FakeTenantStore> fake_;
    Gate gate_;
    std::mutex mutex_;
    bool groups_ = false;
    bool refuseGroups_ = false;
    std::vector<int> groupSizes_;
};

CallRecord record(const std::string& callId) {
    CallRecord r;
    r.callId = callId;
    r.tenantId = "acme";
    r.outcome = "accepted";
    return r;
}

class WriteBehindTenantStoreTest : public ::testing::Test {
protected:
    std::unique_ptr<WriteBehindTenantStore> makeStore(std::chrono::milliseconds retryFor = 10s,
                                                      std::size_t maxQueued = 1000,
                                                      std::chrono::milliseconds groupWindow = 5ms) {
        auto gated = std::make_unique<GatedStore>(fake_);
        gate_ = gated.get();
        return std::make_unique<WriteBehindTenantStore>(
            std::move(gated),
            [this](const WriteBehindTenantStore::Failure& f) {
                std::lock_guard lock(failuresMutex_);
                failures_.push_back(f);
            },
            retryFor, maxQueued, groupWindow);
    }
    std::vector<WriteBehindTenantStore::Failure> failures() {
        std::lock_guard lock(failuresMutex_);
        return failures_;
    }

    std::shared_ptr<FakeTenantStore> fake_ = std::make_shared<FakeTenantStore>();
    GatedStore* gate_ = nullptr;
    std::mutex failuresMutex_;
    std::vector<WriteBehindTenantStore::Failure> failures_;
};

TEST_F(WriteBehindTenantStoreTest, SaveCallReturnsWhileTheStoreIsStillWriting) {
    auto store = makeStore();
    gate_->close();
    store->saveCall(record("rtc_1")); // would block here if written on this thread
    ASSERT_TRUE(gate_->waitUntilHeld());
    EXPECT_FALSE(fake_->findCall("rtc_1").has_value());
    gate_->open();
    store->flush();
    EXPECT_TRUE(fake_->findCall("rtc_1").has_value());
}

TEST_F(WriteBehindTenantStoreTest, WebTokensAreWrittenAndReadOnTheCallersThread) {
    fake_->addTenant("acme", "+15550001", {});
    auto store = makeStore();
    WebToken token;
    token.id = "wt_00000000000a";
    token.tenantId = "acme";
    store->saveWebToken(token, "hash-a");
    EXPECT_TRUE(fake_->webTokenBySecretHash("hash-a")) << "written before saveWebToken returned";
    EXPECT_TRUE(store->revokeWebToken("acme", "wt_00000000000a"));
    EXPECT_EQ(store->webTokenBySecretHash("hash-a"), std::nullopt);
    EXPECT_EQ(store->webTokens("acme").size(), 1u);
}

TEST_F(WriteBehindTenantStoreTest, AReaderSeesEveryWriteMadeBeforeIt) {
    auto store = makeStore();
    gate_->close();
    store->saveCall(record("rtc_1"));
    auto read = std::async(std::launch::async, [&] { return store->findCall("rtc_1"); });
    ASSERT_TRUE(gate_->waitUntilHeld());
    EXPECT_EQ(read.wait_for(50ms), std::future_status::timeout) << "the read waits for the queued write";
    gate_->open();
    const auto found = read.get();
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->outcome, "accepted");
}

TEST_F(WriteBehindTenantStoreTest, WritesAreAppliedInTheOrderTheyWereMade) {
    auto store = makeStore();
    store->saveCall(record("rtc_1"));
    store->appendTranscript("rtc_1", {"caller", "Hello?"});
    store->appendTranscript("rtc_1", {"agent", "Hi, how can I help?"});
    store->recordCallEnded("rtc_1", "hangup", std::chrono::system_clock::time_point(1000s));
    const auto found = store->findCall("rtc_1");
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->outcome, "accepted");
    EXPECT_EQ(found->endReason, "hangup");
    const auto lines = store->transcript("rtc_1");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].text, "Hello?");
    EXPECT_EQ(lines[1].text, "Hi, how can I help?");
    EXPECT_TRUE(failures().empty());
}

TEST_F(WriteBehindTenantStoreTest, AStoreThatComesBackGetsTheWriteItRefused) {
    auto store = makeStore();
    fake_->setUnavailableFor("save_call");
    store->saveCall(record("rtc_1"));
    for (int i = 0; i < 500 && fake_->reads("save_call") < 2; ++i)
        std::this_thread::sleep_for(2ms);
    EXPECT_GE(fake_->reads("save_call"), 2) << "the refused write is tried again";
    fake_->setUnavailableFor("");
    store->flush();
    EXPECT_TRUE(fake_->findCall("rtc_1").has_value());
    EXPECT_TRUE(failures().empty());
}

TEST_F(WriteBehindTenantStoreTest, AWriteStillRefusedAfterTheRetryTimeIsReportedOnceAndDropped) {
    auto store = makeStore(200ms);
    fake_->setUnavailableFor("save_call");
    store->saveCall(record("rtc_1"));
    store->flush();
    const auto reported = failures();
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_STREQ(reported[0].operation, "save_call");
    EXPECT_EQ(reported[0].callId, "rtc_1");
    EXPECT_EQ(reported[0].tenantId, "acme");
    EXPECT_EQ(reported[0].message, "database is down (save_call)");
    fake_->setUnavailableFor("");
    EXPECT_FALSE(store->findCall("rtc_1").has_value());
}

TEST_F(WriteBehindTenantStoreTest, AFullQueueRefusesAWriteAtOnce) {
    auto store = makeStore(10s, 1);
    gate_->close();
    store->saveCall(record("rtc_1")); // taken by the writer, held at the gate
    ASSERT_TRUE(gate_->waitUntilHeld());
    store->saveCall(record("rtc_2")); // queued
    store->saveCall(record("rtc_3")); // refused
    auto reported = failures();
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0].callId, "rtc_3");
    EXPECT_EQ(reported[0].message, "write queue full (1 writes waiting for the store)");
    gate_->open();
    store->flush();
    EXPECT_TRUE(fake_->findCall("rtc_2").has_value());
    EXPECT_FALSE(fake_->findCall("rtc_3").has_value());
}

TEST_F(WriteBehindTenantStoreTest, DestroyingTheStoreWritesWhatIsQueued) {
    {
        auto store = makeStore();
        for (int i = 0; i < 50; ++i)
            store->saveCall(record("rtc_" + std::to_string(i)));
    }
    for (int i = 0; i < 50; ++i)
        EXPECT_TRUE(fake_->findCall("rtc_" + std::to_string(i)).has_value()) << i;
}

TEST_F(WriteBehindTenantStoreTest, DestroyingTheStoreGivesUpOnWritesTheStoreStillRefuses) {
    {
        auto store = makeStore(std::chrono::hours(1)); // without the shutdown rule this would wait an hour
        fake_->setUnavailableFor("save_call");
        store->saveCall(record("rtc_1"));
        store->saveCall(record("rtc_2"));
        for (int i = 0; i < 5000 && fake_->reads("save_call") < 1; ++i)
            std::this_thread::sleep_for(1ms);
    }
    const auto reported = failures();
    ASSERT_EQ(reported.size(), 2u);
    EXPECT_EQ(reported[0].callId, "rtc_1");
    EXPECT_EQ(reported[0].message, "database is down (save_call)");
    EXPECT_EQ(reported[1].callId, "rtc_2");
    EXPECT_EQ(reported[1].message, "not written: the store failed while the host was stopping");
}

TEST_F(WriteBehindTenantStoreTest, WritesQueuedWhileTheStoreIsBusyAreCommittedTogether) {
    auto store = makeStore();
    gate_->acceptGroups(true);
    gate_->close();
    store->saveCall(record("rtc_1")); // alone: the writer holds it at the gate
    ASSERT_TRUE(gate_->waitUntilHeld());
    for (int i = 2; i <= 5; ++i)
        store->saveCall(record("rtc_" + std::to_string(i)));
    gate_->open();
    store->flush();
    EXPECT_EQ(gate_->groupSizes(), std::vector<int>({4}));
    for (int i = 1; i <= 5; ++i)
        EXPECT_TRUE(fake_->findCall("rtc_" + std::to_string(i)).has_value()) << i;
    EXPECT_TRUE(failures().empty());
}

TEST_F(WriteBehindTenantStoreTest, AGroupTheStoreRefusesIsWrittenOneWriteAtATime) {
    auto store = makeStore();
    gate_->acceptGroups(true, true);
    gate_->close();
    store->saveCall(record("rtc_1"));
    ASSERT_TRUE(gate_->waitUntilHeld());
    store->saveCall(record("rtc_2"));
    store->saveCall(record("rtc_3"));
    gate_->open();
    store->flush();
    EXPECT_EQ(gate_->groupSizes(), std::vector<int>({0}));
    for (int i = 1; i <= 3; ++i)
        EXPECT_TRUE(fake_->findCall("rtc_" + std::to_string(i)).has_value()) << i;
    EXPECT_TRUE(failures().empty());
}

TEST_F(WriteBehindTenantStoreTest, AReaderDoesNotWaitForTheGroupWindow) {
    auto store = makeStore(10s, 1000, std::chrono::hours(1));
    store->saveCall(record("rtc_1"));
    auto read = std::async(std::launch::async, [&] { return store->findCall("rtc_1"); });
    ASSERT_EQ(read.wait_for(20s), std::future_status::ready) << "the reader would wait an hour for the window";
    EXPECT_TRUE(read.get().has_value());
}

TEST_F(WriteBehindTenantStoreTest, AnExceptionThatIsNotAStoreErrorIsReportedAndWritingGoesOn) {
    auto store = makeStore();
    store->saveCall(record("rtc_boom"));
    store->saveCall(record("rtc_ok"));
    EXPECT_TRUE(store->findCall("rtc_ok").has_value());
    const auto reported = failures();
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0].callId, "rtc_boom");
    EXPECT_EQ(reported[0].message, "not a StoreError");
}

} // namespace
