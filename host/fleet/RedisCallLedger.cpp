#include "fleet/RedisCallLedger.h"

#include "metrics/MetricsRegistry.h"
#include "metrics/SidebandMetrics.h"

#include <spdlog/spdlog.h>

namespace sideband::fleet {

namespace {

// Frees one slot, keeping the zsets, the per-tenant counts and the owner set consistent.
// Returns {tenant, state, owner} or nil when the call holds no slot.
constexpr const char* kFree = R"lua(
local function free(p, id)
  local ck = p .. 'call:' .. id
  local h = redis.call('HMGET', ck, 'tenant', 'state', 'owner')
  if not h[1] then return nil end
  redis.call('ZREM', p .. 'slots:' .. h[2], id)
  redis.call('HINCRBY', p .. 'counts:' .. h[2], h[1], -1)
  redis.call('SREM', p .. 'owner:' .. h[3], id)
  redis.call('DEL', ck)
  return h
end
)lua";

// ARGV: prefix, call id, tenant, replica, now ms, global limit, tenant limit, lease ttl ms, token
const RedisClient::Script& reserveScript() {
    static const RedisClient::Script script(R"lua(
local p, id, tenant, owner, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local glimit, tlimit = tonumber(ARGV[6]), tonumber(ARGV[7])
local ck = p .. 'call:' .. id
if redis.call('EXISTS', ck) == 1 or redis.call('EXISTS', p .. 'accepted:' .. id) == 1 then return 'duplicate' end
local global = redis.call('ZCARD', p .. 'slots:pending') + redis.call('ZCARD', p .. 'slots:active')
local t = tonumber(redis.call('HGET', p .. 'counts:pending', tenant) or '0')
        + tonumber(redis.call('HGET', p .. 'counts:active', tenant) or '0')
if t >= tlimit or global >= glimit then return 'capacity' end
redis.call('HSET', ck, 'tenant', tenant, 'state', 'pending', 'owner', owner, 'since', now, 'token', ARGV[9])
redis.call('ZADD', p .. 'slots:pending', now, id)
redis.call('HINCRBY', p .. 'counts:pending', tenant, 1)
redis.call('SADD', p .. 'owner:' .. owner, id)
redis.call('SADD', p .. 'replicas', owner)
redis.call('SET', p .. 'replica:' .. owner, '1', 'PX', ARGV[8])
return 'reserved'
)lua");
    return script;
}

// ARGV: prefix, from, to. Returns 1 renamed, 0 `from` holds no slot, -1 `to` is already known.
const RedisClient::Script& renameScript() {
    static const RedisClient::Script script(R"lua(
local p, from, to = ARGV[1], ARGV[2], ARGV[3]
local fk, tk = p .. 'call:' .. from, p .. 'call:' .. to
local h = redis.call('HMGET', fk, 'state', 'owner')
if not h[1] then return 0 end
if redis.call('EXISTS', tk) == 1 or redis.call('EXISTS', p .. 'accepted:' .. to) == 1 then return -1 end
redis.call('RENAME', fk, tk)
local z = p .. 'slots:' .. h[1]
redis.call('ZADD', z, redis.call('ZSCORE', z, from), to)
redis.call('ZREM', z, from)
redis.call('SREM', p .. 'owner:' .. h[2], from)
redis.call('SADD', p .. 'owner:' .. h[2], to)
return 1
)lua");
    return script;
}

// ARGV: prefix, call id, now ms
const RedisClient::Script& promoteScript() {
    static const RedisClient::Script script(R"lua(
local p, id, now = ARGV[1], ARGV[2], ARGV[3]
local ck = p .. 'call:' .. id
local h = redis.call('HMGET', ck, 'tenant', 'state')
if not h[1] or h[2] ~= 'pending' then return 0 end
redis.call('ZREM', p .. 'slots:pending', id)
redis.call('ZADD', p .. 'slots:active', now, id)
redis.call('HINCRBY', p .. 'counts:pending', h[1], -1)
redis.call('HINCRBY', p .. 'counts:active', h[1], 1)
redis.call('HSET', ck, 'state', 'active', 'since', now)
return 1
)lua");
    return script;
}

// ARGV: prefix, call id[, token: only that reservation's slot]. Returns the tenant or nil.
const RedisClient::Script& releaseScript() {
    static const RedisClient::Script script(std::string(kFree) + R"lua(
if ARGV[3] and redis.call('HGET', ARGV[1] .. 'call:' .. ARGV[2], 'token') ~= ARGV[3] then return false end
local h = free(ARGV[1], ARGV[2])
if not h then return false end
return h[1]
)lua");
    return script;
}

// ARGV: prefix, now ms, pending timeout ms, max call ms. Returns {id, tenant, reason, ...}.
const RedisClient::Script& sweepScript() {
    static const RedisClient::Script script(std::string(kFree) + R"lua(
local p, now = ARGV[1], tonumber(ARGV[2])
local out = {}
local function expire(state, limit, reason)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'slots:' .. state, '-inf', now - limit)) do
    local h = free(p, id)
    if h then table.insert(out, id); table.insert(out, h[1]); table.insert(out, reason) end
  end
end
expire('pending', tonumber(ARGV[3]), 'never_started')
expire('active', tonumber(ARGV[4]), 'never_ended')
for _, replica in ipairs(redis.call('SMEMBERS', p .. 'replicas')) do
  local owned = p .. 'owner:' .. replica
  if redis.call('EXISTS', p .. 'replica:' .. replica) == 0 then
    for _, id in ipairs(redis.call('SMEMBERS', owned)) do
      local h = free(p, id)
      if h then table.insert(out, id); table.insert(out, h[1]); table.insert(out, 'replica_lost') end
    end
    redis.call('DEL', owned)
    redis.call('SREM', p .. 'replicas', replica)
  elseif redis.call('SCARD', owned) == 0 then
    redis.call('SREM', p .. 'replicas', replica)
  end
end
return out
)lua");
    return script;
}

// ARGV: prefix. Returns {pending, active, {tenant, n, ...} pending, {tenant, n, ...} active}.
const RedisClient::Script& countsScript() {
    static const RedisClient::Script script(R"lua(
local p = ARGV[1]
return {redis.call('ZCARD', p .. 'slots:pending'), redis.call('ZCARD', p .. 'slots:active'),
        redis.call('HGETALL', p .. 'counts:pending'), redis.call('HGETALL', p .. 'counts:active')}
)lua");
    return script;
}

const char* opName(int op) {
    switch (op) {
    case 0:
        return "ledger_promote";
    case 1:
        return "ledger_release";
    case 2:
        return "ledger_accept";
    default:
        return "ledger_unreserve";
    }
}

int toInt(const RedisReply& reply) {
    if (reply.type == RedisReply::Type::Integer) return int(reply.integer);
    if (reply.type == RedisReply::Type::Bulk || reply.type == RedisReply::Type::Status) return std::stoi(reply.str);
    return 0;
}

} // namespace

RedisCallLedger::RedisCallLedger(RedisClient& redis, std::string replicaId, std::chrono::milliseconds leaseTtl,
                                 const Clock& clock, metrics::MetricsRegistry* metrics, Options options)
    : redis_(redis), replicaId_(std::move(replicaId)), leaseTtl_(leaseTtl), clock_(clock), metrics_(metrics),
      prefix_(std::move(options.keyPrefix)), retryLimit_(options.retryLimit) {
    if (replicaId_.empty()) throw std::invalid_argument("replica id must not be empty");
    if (leaseTtl_.count() < 3) throw std::invalid_argument("lease TTL too short");
}

RedisCallLedger::~RedisCallLedger() {
    stop();
}

std::string RedisCallLedger::nowMs() const {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch()).count());
}

void RedisCallLedger::renewLease() {
    try {
        redis_.command("ledger_heartbeat",
                       {"SET", key("replica:" + replicaId_), "1", "PX", std::to_string(leaseTtl_.count())});
    } catch (const std::exception& e) {
        spdlog::debug("ledger: lease renewal failed: {}", e.what());
    }
}

void RedisCallLedger::start() {
    std::lock_guard lock(heartbeatMutex_);
    if (heartbeat_.joinable()) return;
    stopping_ = false;
    renewLease();
    heartbeat_ = std::thread([this] { heartbeatLoop(); });
}

void RedisCallLedger::stop() {
    {
        std::lock_guard lock(heartbeatMutex_);
        stopping_ = true;
    }
    heartbeatWake_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
}

void RedisCallLedger::heartbeatLoop() {
    std::unique_lock lock(heartbeatMutex_);
    for (;;) {
        if (heartbeatWake_.wait_for(lock, leaseTtl_ / 3, [&] { return stopping_; })) return;
        lock.unlock();
        renewLease();
        replayRetries();
        lock.lock();
    }
}

calls::CallLedger::Reservation RedisCallLedger::reserve(const std::string& callId, const std::string& tenantId,
                                                        const Limits& limits) {
    replayRetries();
    std::string token;
    {
        std::lock_guard lock(mutex_);
        token = replicaId_ + "/" + std::to_string(++reservations_);
    }
    RedisReply reply;
    try {
        reply = redis_.eval("ledger_reserve", reserveScript(), {},
                            {prefix_, callId, tenantId, replicaId_, nowMs(), std::to_string(limits.global),
                             std::to_string(limits.tenant), std::to_string(leaseTtl_.count()), token});
    } catch (const SharedStateUnavailable& e) {
        // Fail closed: with the shared counts unknown, no new call. If the script may still run,
        // undo whatever slot it takes once Redis answers again.
        spdlog::debug("ledger: reserve of {} refused, shared state unavailable: {}", callId, e.what());
        if (e.maybeApplied()) queue({Op::Unreserve, callId, token});
        return Reservation::AtCapacity;
    } catch (const std::exception& e) {
        spdlog::error("ledger: reserve of {} failed: {}", callId, e.what());
        return Reservation::AtCapacity;
    }
    if (reply.str == "duplicate") return Reservation::DuplicateCall;
    if (reply.str == "capacity") return Reservation::AtCapacity;
    std::lock_guard lock(mutex_);
    local_[callId] = {tenantId, clock_.now(), token};
    return Reservation::Reserved;
}

void RedisCallLedger::runOp(const Retry& retry) {
    const auto& callId = retry.callId;
    switch (retry.op) {
    case Op::Promote:
        redis_.eval("ledger_promote", promoteScript(), {}, {prefix_, callId, nowMs()});
        return;
    case Op::Release:
        releaseInRedis(callId);
        return;
    case Op::Unreserve:
        redis_.eval("ledger_unreserve", releaseScript(), {}, {prefix_, callId, retry.token});
        return;
    case Op::Accept:
        redis_.command(
            "ledger_accept",
            {"SET", key("accepted:" + callId), "1", "PX",
             std::to_string(std::chrono::milliseconds(calls::InMemoryCallLedger::kAcceptedRetention).count())});
        return;
    }
}

std::optional<std::string> RedisCallLedger::releaseInRedis(const std::string& callId) {
    auto reply = redis_.eval("ledger_release", releaseScript(), {}, {prefix_, callId});
    if (reply.type == RedisReply::Type::Bulk) return reply.str;
    return std::nullopt;
}

void RedisCallLedger::queue(Retry retry) {
    std::lock_guard lock(mutex_);
    if (retries_.size() >= retryLimit_) {
        const auto& oldest = retries_.front();
        if (metrics_)
            metrics_->increment(metrics::name::kLedgerRetriesDropped, {{"operation", opName(int(oldest.op))}});
        spdlog::warn("ledger: retry list full ({}), dropped the oldest write ({} {})", retryLimit_,
                     opName(int(oldest.op)), oldest.callId);
        retries_.pop_front();
    }
    retry.sequence = ++queued_;
    retries_.push_back(std::move(retry));
    if (metrics_) metrics_->set(metrics::name::kLedgerRetriesQueued, {}, double(retries_.size()));
}

bool RedisCallLedger::replayRetries() {
    {
        std::lock_guard lock(mutex_);
        if (retries_.empty()) return true;
        if (replaying_) return false;
        replaying_ = true;
    }
    bool drained = false;
    for (;;) {
        Retry next;
        {
            std::lock_guard lock(mutex_);
            if (retries_.empty()) {
                drained = true;
                break;
            }
            next = retries_.front();
        }
        try {
            runOp(next);
        } catch (const SharedStateUnavailable&) {
            break;
        } catch (const std::exception& e) { // an error reply: replaying it again would not help
            spdlog::error("ledger: replayed {} of {} failed: {}", opName(int(next.op)), next.callId, e.what());
        }
        std::lock_guard lock(mutex_);
        // The one we ran, unless a full list dropped it meanwhile.
        if (!retries_.empty() && retries_.front().sequence == next.sequence) retries_.pop_front();
    }
    std::lock_guard lock(mutex_);
    replaying_ = false;
    if (metrics_) metrics_->set(metrics::name::kLedgerRetriesQueued, {}, double(retries_.size()));
    return drained;
}

std::size_t RedisCallLedger::queuedRetries() const {
    std::lock_guard lock(mutex_);
    return retries_.size();
}

// Runs a write now, or queues it for the replay when Redis cannot be reached.
void RedisCallLedger::runOrQueue(const Retry& write, const char* what) {
    try {
        runOp(write);
    } catch (const SharedStateUnavailable&) {
        queue(write);
    } catch (const std::exception& e) {
        spdlog::error("ledger: {} of {} failed: {}", what, write.callId, e.what());
    }
}

bool RedisCallLedger::rename(const std::string& from, const std::string& to) {
    if (!replayRetries()) return false;
    try {
        if (redis_.eval("ledger_rename", renameScript(), {}, {prefix_, from, to}).integer != 1) return false;
    } catch (const SharedStateUnavailable& e) {
        // The caller gives the call up: free the slot under whichever id the script left it, and
        // only this reservation's (`to` may be another request's call already).
        spdlog::debug("ledger: rename of {} refused, shared state unavailable: {}", from, e.what());
        std::string token;
        {
            std::lock_guard lock(mutex_);
            if (auto it = local_.find(from); it != local_.end()) token = it->second.token;
        }
        if (e.maybeApplied() && !token.empty()) queue({Op::Unreserve, to, token});
        queue({Op::Release, from, {}});
        forgetLocal(from);
        return false;
    } catch (const std::exception& e) {
        spdlog::error("ledger: rename of {} failed: {}", from, e.what());
        return false;
    }
    std::lock_guard lock(mutex_);
    if (auto it = local_.find(from); it != local_.end()) {
        local_[to] = it->second;
        local_.erase(from);
    }
    return true;
}

void RedisCallLedger::markAccepted(const std::string& callId) {
    replayRetries();
    runOrQueue({Op::Accept, callId, {}}, "markAccepted");
}

void RedisCallLedger::promote(const std::string& callId) {
    // Queued writes go first, so a promote never overtakes a queued write of the same call.
    if (!replayRetries()) return queue({Op::Promote, callId, {}});
    runOrQueue({Op::Promote, callId, {}}, "promote");
}

void RedisCallLedger::forgetLocal(const std::string& callId) {
    std::lock_guard lock(mutex_);
    local_.erase(callId);
}

std::optional<std::string> RedisCallLedger::release(const std::string& callId) {
    std::optional<std::string> localTenant;
    {
        std::lock_guard lock(mutex_);
        if (auto it = local_.find(callId); it != local_.end()) {
            localTenant = it->second.tenantId;
            local_.erase(it);
        }
    }
    if (replayRetries()) {
        try {
            return releaseInRedis(callId);
        } catch (const SharedStateUnavailable&) {
        } catch (const std::exception& e) {
            spdlog::error("ledger: release of {} failed: {}", callId, e.what());
            return localTenant;
        }
    }
    queue({Op::Release, callId, {}});
    return localTenant; // the slot is freed when the write is replayed
}

bool RedisCallLedger::isKnown(const std::string& callId) {
    try {
        auto reply = redis_.command("ledger_is_known", {"EXISTS", key("call:" + callId), key("accepted:" + callId)});
        return reply.integer > 0;
    } catch (const std::exception&) {
        // Unknown shared state: the reserve that follows refuses the call anyway (fail closed).
        std::lock_guard lock(mutex_);
        return local_.count(callId) > 0;
    }
}

std::string RedisCallLedger::owner(const std::string& callId) {
    try {
        auto reply = redis_.command("ledger_owner", {"HGET", key("call:" + callId), "owner"});
        return reply.isNil() ? std::string() : reply.str;
    } catch (const std::exception&) {
        std::lock_guard lock(mutex_);
        return local_.count(callId) ? replicaId_ : std::string();
    }
}

std::vector<calls::CallLedger::Swept> RedisCallLedger::sweep(std::chrono::seconds pendingTimeout,
                                                             std::chrono::seconds maxCallDuration) {
    std::vector<Swept> swept;
    if (!replayRetries()) return swept;
    RedisReply reply;
    try {
        reply = redis_.eval("ledger_sweep", sweepScript(), {},
                            {prefix_, nowMs(), std::to_string(std::chrono::milliseconds(pendingTimeout).count()),
                             std::to_string(std::chrono::milliseconds(maxCallDuration).count())});
    } catch (const std::exception& e) {
        spdlog::debug("ledger: sweep skipped: {}", e.what());
        return swept;
    }
    for (std::size_t i = 0; i + 2 < reply.elements.size(); i += 3)
        swept.push_back({reply.elements[i].str, reply.elements[i + 1].str, reply.elements[i + 2].str});

    // Forget local entries for calls that were swept here or released elsewhere long ago.
    const auto now = clock_.now();
    std::lock_guard lock(mutex_);
    for (const auto& s : swept)
        local_.erase(s.callId);
    for (auto it = local_.begin(); it != local_.end();) {
        if (now - it->second.since >= pendingTimeout + maxCallDuration)
            it = local_.erase(it);
        else
            ++it;
    }
    return swept;
}

calls::CallLedger::Counts RedisCallLedger::total() {
    try {
        auto reply = redis_.eval("ledger_counts", countsScript(), {}, {prefix_});
        Counts counts;
        counts.pending = toInt(reply.elements.at(0));
        counts.active = toInt(reply.elements.at(1));
        std::lock_guard lock(mutex_);
        lastTotal_ = counts;
        return counts;
    } catch (const std::exception&) {
        std::lock_guard lock(mutex_);
        return lastTotal_;
    }
}

std::map<std::string, calls::CallLedger::Counts> RedisCallLedger::byTenant() {
    try {
        auto reply = redis_.eval("ledger_counts", countsScript(), {}, {prefix_});
        std::map<std::string, Counts> tenants;
        const auto& pending = reply.elements.at(2).elements;
        for (std::size_t i = 0; i + 1 < pending.size(); i += 2)
            tenants[pending[i].str].pending = toInt(pending[i + 1]);
        const auto& active = reply.elements.at(3).elements;
        for (std::size_t i = 0; i + 1 < active.size(); i += 2)
            tenants[active[i].str].active = toInt(active[i + 1]);
        std::lock_guard lock(mutex_);
        lastByTenant_ = tenants;
        return tenants;
    } catch (const std::exception&) {
        std::lock_guard lock(mutex_);
        return lastByTenant_;
    }
}

} // namespace sideband::fleet
