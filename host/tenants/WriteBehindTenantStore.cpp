#include "tenants/WriteBehindTenantStore.h"

#include <algorithm>

namespace sideband::tenants {

namespace {
constexpr std::size_t kMaxGroup = 256; // writes per transaction
} // namespace

WriteBehindTenantStore::WriteBehindTenantStore(std::unique_ptr<TenantStore> store, FailureHandler onFailure,
                                               std::chrono::milliseconds retryFor, std::size_t maxQueued,
                                               std::chrono::milliseconds groupWindow)
    : ForwardingTenantStore(std::move(store)), onFailure_(std::move(onFailure)), retryFor_(retryFor),
      maxQueued_(maxQueued), groupWindow_(groupWindow), writer_([this] { writerLoop(); }) {}

WriteBehindTenantStore::~WriteBehindTenantStore() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queued_.notify_all();
    writer_.join();
}

void WriteBehindTenantStore::enqueue(Write write) {
    write.queuedAt = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() < maxQueued_) {
            queue_.push_back(std::move(write));
            ++enqueued_;
            if (writerIdle_ || queue_.size() == kMaxGroup) queued_.notify_one();
            return;
        }
    }
    report(write, "write queue full (" + std::to_string(maxQueued_) + " writes waiting for the store)");
}

void WriteBehindTenantStore::report(const Write& write, const std::string& message) noexcept {
    if (!onFailure_) return;
    try {
        onFailure_({write.operation, write.callId, write.tenantId, message});
    } catch (...) {
        // The handler logs and counts; if even that fails there is nobody left to tell.
    }
}

void WriteBehindTenantStore::flush() {
    std::unique_lock lock(mutex_);
    const auto target = enqueued_;
    if (done_ >= target) return;
    ++flushing_;
    queued_.notify_one(); // a writer waiting for more writes commits now
    written_.wait(lock, [&] { return done_ >= target; });
    --flushing_;
}

void WriteBehindTenantStore::writerLoop() {
    std::unique_lock lock(mutex_);
    std::vector<Write> group;
    for (;;) {
        writerIdle_ = true;
        queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        writerIdle_ = false;
        if (queue_.empty()) return; // stopping, and everything is written
        if (groupWindow_.count() > 0)
            queued_.wait_for(lock, groupWindow_,
                             [this] { return stopping_ || flushing_ > 0 || queue_.size() >= kMaxGroup; });
        const auto count = std::min(queue_.size(), kMaxGroup);
        group.clear();
        for (std::size_t i = 0; i < count; ++i) {
            group.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
        lock.unlock();
        applyGroup(group);
        lock.lock();
        done_ += count;
        written_.notify_all();
    }
}

void WriteBehindTenantStore::applyGroup(const std::vector<Write>& group) {
    if (group.size() > 1) {
        bool stopped = false;
        {
            std::lock_guard lock(mutex_);
            stopped = gaveUp_;
        }
        if (!stopped) {
            try {
                if (store_->writeAtomically([&](TenantStore& store) {
                        for (const auto& write : group)
                            write.apply(store);
                    }))
                    return;
            } catch (...) {
                // Nothing of the group was written: each write goes on its own below, retried and
                // reported as usual, so one bad write does not cost the others.
            }
        }
    }
    for (const auto& write : group)
        apply(write);
}

void WriteBehindTenantStore::apply(const Write& write) {
    {
        std::lock_guard lock(mutex_);
        if (gaveUp_) {
            report(write, "not written: the store failed while the host was stopping");
            return;
        }
    }
    auto backoff = std::chrono::milliseconds(50);
    for (;;) {
        std::string error;
        bool transient = false;
        try {
            write.apply(*store_);
            return;
        } catch (const StoreError& e) {
            error = e.what();
            transient = e.code() == StoreErrorCode::Unavailable;
        } catch (const std::exception& e) {
            error = e.what(); // not the store's contract; never let it end the writer thread
        } catch (...) {
            error = "unknown error";
        }
        const bool late = std::chrono::steady_clock::now() - write.queuedAt + backoff > retryFor_;
        std::unique_lock lock(mutex_);
        // Stopping: the first failure ends the drain (every later write is reported untried), so a
        // store that is down or locked cannot hold the exit, however many writes are queued.
        if (stopping_) gaveUp_ = true;
        if (!transient || late || stopping_) {
            lock.unlock();
            report(write, error);
            return;
        }
        queued_.wait_for(lock, backoff, [this] { return stopping_; });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
}

void WriteBehindTenantStore::saveCall(const CallRecord& record) {
    enqueue({"save_call", record.callId, record.tenantId, [record](TenantStore& store) { store.saveCall(record); }});
}

void WriteBehindTenantStore::recordCallEnded(const std::string& callId, const std::string& reason,
                                             CallRecord::time_point endedAt) {
    enqueue({"record_end", callId, "",
             [callId, reason, endedAt](TenantStore& store) { store.recordCallEnded(callId, reason, endedAt); }});
}

void WriteBehindTenantStore::appendTranscript(const std::string& callId, const TranscriptLine& line) {
    enqueue({"transcript", callId, "", [callId, line](TenantStore& store) { store.appendTranscript(callId, line); }});
}

std::optional<CallRecord> WriteBehindTenantStore::findCall(const std::string& callId) {
    flush();
    return store_->findCall(callId);
}

std::vector<TranscriptLine> WriteBehindTenantStore::transcript(const std::string& callId) {
    flush();
    return store_->transcript(callId);
}

} // namespace sideband::tenants
