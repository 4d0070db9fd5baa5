#include "fleet/CallEndBus.h"

#include "metrics/MetricsRegistry.h"
#include "metrics/SidebandMetrics.h"

#include <spdlog/spdlog.h>

namespace sideband::fleet {

CallEndBus::CallEndBus(RedisClient& redis, std::string replicaId, metrics::MetricsRegistry* metrics, Options options)
    : redis_(redis), replicaId_(std::move(replicaId)), metrics_(metrics), options_(std::move(options)) {}

CallEndBus::~CallEndBus() {
    stop();
}

bool CallEndBus::publish(const std::string& ownerReplicaId, const std::string& callId, const std::string& reason) {
    auto count = [&](const char* outcome) {
        if (metrics_) metrics_->increment(metrics::name::kCallEndBus, {{"direction", "sent"}, {"outcome", outcome}});
    };
    if (callId.find('\n') != std::string::npos) {
        count("invalid");
        return false;
    }
    try {
        auto reply = redis_.command("bus_publish", {"PUBLISH", channel(ownerReplicaId), callId + "\n" + reason});
        const bool received = reply.integer > 0;
        count(received ? "delivered" : "no_subscriber");
        if (!received) spdlog::warn("call-end bus: replica {} is not listening (call {})", ownerReplicaId, callId);
        return received;
    } catch (const std::exception& e) {
        count("failed");
        spdlog::warn("call-end bus: could not tell replica {} that call {} ended: {}", ownerReplicaId, callId,
                     e.what());
        return false;
    }
}

void CallEndBus::start(Handler handler) {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    handler_ = std::move(handler);
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void CallEndBus::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void CallEndBus::dispatch(const RedisReply& message) {
    // ["message", channel, payload]; subscribe confirmations and ["pong", ""] answers are not ends.
    if (message.type != RedisReply::Type::Array || message.elements.size() != 3 || message.elements[0].str != "message")
        return;
    const auto& payload = message.elements[2].str;
    const auto newline = payload.find('\n');
    if (newline == std::string::npos) return;
    if (metrics_) metrics_->increment(metrics::name::kCallEndBus, {{"direction", "received"}, {"outcome", "handled"}});
    try {
        handler_(payload.substr(0, newline), payload.substr(newline + 1));
    } catch (const std::exception& e) {
        spdlog::error("call-end bus: handler failed: {}", e.what());
    }
}

void CallEndBus::run() {
    auto stopRequested = [&](std::chrono::milliseconds wait) {
        std::unique_lock lock(mutex_);
        return wake_.wait_for(lock, wait, [&] { return stopping_; });
    };
    while (!stopRequested(std::chrono::milliseconds(0))) {
        try {
            auto connection = redis_.connect();
            connection->send({"SUBSCRIBE", channel(replicaId_)});
            auto confirmation = connection->read();
            if (confirmation.isError()) throw SharedStateUnavailable("SUBSCRIBE refused: " + confirmation.str);
            subscribed_ = true;
            redis_.reportSuccess();
            auto lastHeard = std::chrono::steady_clock::now();
            bool pingSent = false;
            while (!stopRequested(std::chrono::milliseconds(0))) {
                if (connection->poll(options_.pollInterval)) {
                    dispatch(connection->read());
                    lastHeard = std::chrono::steady_clock::now();
                    pingSent = false;
                    continue;
                }
                const auto quiet = std::chrono::steady_clock::now() - lastHeard;
                if (pingSent && quiet >= options_.pingInterval + redis_.options().commandTimeout)
                    throw SharedStateUnavailable("subscriber connection stopped answering");
                if (!pingSent && quiet >= options_.pingInterval) {
                    connection->send({"PING"});
                    pingSent = true;
                }
            }
        } catch (const std::exception& e) {
            subscribed_ = false;
            redis_.reportFailure("bus_subscribe", e.what());
            if (stopRequested(options_.reconnectDelay)) break;
            continue;
        }
    }
    subscribed_ = false;
}

} // namespace sideband::fleet
