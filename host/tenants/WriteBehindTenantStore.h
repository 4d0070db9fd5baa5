#pragma once

#include "tenants/ForwardingTenantStore.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sideband::tenants {

// A TenantStore that writes call records (saveCall, recordCallEnded, appendTranscript) on a
// thread of its own, in the order they were made, instead of on the caller's thread. Reading a
// call record or a transcript first waits for every write made before it, so a reader always sees
// its own writes. Tenant reads and writes, and web tokens, go straight through.
//
// Why: a call record is written while the webhook waits for its answer, and the write takes the
// database's write lock (and, now and then, a WAL checkpoint that waits for the disk); under load
// those waits were the slowest part of answering a call.
//
// Group commit: the writer wakes for the first queued write, lets more gather for `groupWindow`,
// and hands up to 256 of them to the store's writeAtomically (one transaction, one commit, one
// wake-up instead of one per write). If the store cannot, or refuses the group, each write is
// made on its own as below.
//
// Failures: a write the store refuses as unavailable is retried (backoff up to 1 s) until it
// succeeds or `retryFor` has passed since it was queued; then, or for any other error, `onFailure`
// is told once (the host logs one line and counts it) and the write is dropped. Each queued write
// is tried at least once; at most `maxQueued` wait, beyond that a write is refused at once
// (reported the same way). The destructor writes what is queued before it returns; once a write
// fails during that drain, the rest are reported without being tried, so a store that is down
// cannot hold the host's exit.
class WriteBehindTenantStore final : public ForwardingTenantStore {
public:
    struct Failure {
        const char* operation; // save_call | record_end | transcript
        std::string callId;
        std::string tenantId; // empty when the write does not carry it
        std::string message;
    };
    using FailureHandler = std::function<void(const Failure&)>;

    // `groupWindow`: how long the writer lets writes gather before it commits them together (0:
    // commit what is there at once). A reader waiting in flush() cuts the window short.
    WriteBehindTenantStore(std::unique_ptr<TenantStore> store, FailureHandler onFailure,
                           std::chrono::milliseconds retryFor = std::chrono::seconds(30),
                           std::size_t maxQueued = 100000,
                           std::chrono::milliseconds groupWindow = std::chrono::milliseconds(5));
    ~WriteBehindTenantStore() override;

    // Blocks until every write queued before this call has been written or given up.
    void flush();

    void saveCall(const CallRecord& record) override;
    void recordCallEnded(const std::string& callId, const std::string& reason, CallRecord::time_point endedAt) override;
    std::optional<CallRecord> findCall(const std::string& callId) override;
    void appendTranscript(const std::string& callId, const TranscriptLine& line) override;
    std::vector<TranscriptLine> transcript(const std::string& callId) override;

private:
    struct Write {
        const char* operation;
        std::string callId;
        std::string tenantId;
        std::function<void(TenantStore&)> apply;
        std::chrono::steady_clock::time_point queuedAt{}; // set by enqueue()
    };
    void enqueue(Write write);
    void writerLoop();
    void applyGroup(const std::vector<Write>& group);
    void apply(const Write& write);
    void report(const Write& write, const std::string& message) noexcept;

    FailureHandler onFailure_;
    const std::chrono::milliseconds retryFor_;
    const std::size_t maxQueued_;
    const std::chrono::milliseconds groupWindow_;

    std::mutex mutex_;
    std::condition_variable queued_;  // the writer waits for writes
    std::condition_variable written_; // flush() waits for the writer
    std::deque<Write> queue_;
    std::uint64_t enqueued_ = 0; // writes ever queued
    std::uint64_t done_ = 0;     // writes ever finished (written or given up)
    bool writerIdle_ = false;    // the writer waits for a first write: wake it (later ones wait for the window)
    int flushing_ = 0;           // readers waiting in flush(): the writer does not wait for more writes
    bool stopping_ = false;
    bool gaveUp_ = false; // a write failed while stopping: report the rest untried
    std::thread writer_;
};

} // namespace sideband::tenants
