#include "fleet/RedisClient.h"

#include "metrics/MetricsRegistry.h"
#include "metrics/SidebandMetrics.h"

#include <Poco/DigestEngine.h>
#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/SHA1Engine.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>

namespace sideband::fleet {

namespace {

constexpr int kMaxDepth = 8;
constexpr std::int64_t kMaxBulk = 64 * 1024 * 1024;

int parseInt(const std::string& text, const std::string& what) {
    int value = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end) throw std::invalid_argument("redis url: bad " + what + " '" + text + "'");
    return value;
}

Poco::Timespan timespan(std::chrono::milliseconds ms) {
    return Poco::Timespan(std::int64_t(ms.count()) * 1000);
}

} // namespace

RedisUrl RedisUrl::parse(const std::string& url) {
    const std::string scheme = "redis://";
    if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("redis url must start with redis://");
    std::string rest = url.substr(scheme.size());
    RedisUrl out;
    if (const auto at = rest.rfind('@'); at != std::string::npos) {
        auto userInfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = userInfo.find(':');
        if (colon == std::string::npos) {
            out.password = userInfo;
        } else {
            out.user = userInfo.substr(0, colon);
            out.password = userInfo.substr(colon + 1);
        }
    }
    if (const auto slash = rest.find('/'); slash != std::string::npos) {
        const auto db = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        if (!db.empty()) out.db = parseInt(db, "db");
    }
    std::string portText;
    if (!rest.empty() && rest.front() == '[') { // [::1]:6379
        const auto close = rest.find(']');
        if (close == std::string::npos) throw std::invalid_argument("redis url: bad host");
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') throw std::invalid_argument("redis url: bad host");
            portText = rest.substr(close + 2);
        }
        rest = rest.substr(1, close - 1);
    } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
        portText = rest.substr(colon + 1);
        rest = rest.substr(0, colon);
    }
    if (!portText.empty()) out.port = parseInt(portText, "port");
    if (!rest.empty()) out.host = rest;
    if (out.port <= 0 || out.port > 65535) throw std::invalid_argument("redis url: port out of range");
    if (out.db < 0) throw std::invalid_argument("redis url: bad db");
    return out;
}

std::string RedisUrl::display() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

// ---------------------------------------------------------------------------------------------
// RedisConnection

RedisConnection::RedisConnection(const RedisUrl& url, std::chrono::milliseconds connectTimeout,
                                 std::chrono::milliseconds ioTimeout)
    : endpoint_(url.display()), buffer_(16 * 1024) {
    try {
        socket_.connect(Poco::Net::SocketAddress(url.host, std::uint16_t(url.port)), timespan(connectTimeout));
        socket_.setNoDelay(true);
        socket_.setReceiveTimeout(timespan(ioTimeout));
        socket_.setSendTimeout(timespan(ioTimeout));
    } catch (const Poco::Exception& e) {
        throw SharedStateUnavailable(e.displayText());
    }
    auto check = [&](const RedisReply& reply, const char* what) {
        if (reply.isError()) throw SharedStateUnavailable(std::string(what) + " refused: " + reply.str);
    };
    if (!url.user.empty())
        check(command({"AUTH", url.user, url.password}), "AUTH");
    else if (!url.password.empty())
        check(command({"AUTH", url.password}), "AUTH");
    if (url.db != 0) check(command({"SELECT", std::to_string(url.db)}), "SELECT");
}

RedisConnection::~RedisConnection() {
    try {
        socket_.close();
    } catch (...) {
    }
}

RedisReply RedisConnection::command(const std::vector<std::string>& args) {
    send(args);
    return read();
}

void RedisConnection::send(const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& arg : args) {
        out += "$" + std::to_string(arg.size()) + "\r\n";
        out += arg;
        out += "\r\n";
    }
    try {
        std::size_t sent = 0;
        while (sent < out.size()) {
            const int n = socket_.sendBytes(out.data() + sent, int(out.size() - sent));
            if (n <= 0) throw SharedStateUnavailable("connection closed while sending");
            sent += std::size_t(n);
        }
    } catch (const Poco::TimeoutException&) {
        throw SharedStateUnavailable("send timed out");
    } catch (const Poco::Exception& e) {
        throw SharedStateUnavailable(e.displayText());
    }
}

bool RedisConnection::poll(std::chrono::milliseconds timeout) {
    if (begin_ < end_) return true;
    try {
        return socket_.poll(timespan(timeout), Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR);
    } catch (const Poco::Exception& e) {
        throw SharedStateUnavailable(e.displayText());
    }
}

char RedisConnection::nextByte() {
    if (begin_ == end_) {
        int n = 0;
        try {
            n = socket_.receiveBytes(buffer_.data(), int(buffer_.size()));
        } catch (const Poco::TimeoutException&) {
            throw SharedStateUnavailable("no answer within the command timeout");
        } catch (const Poco::Exception& e) {
            throw SharedStateUnavailable(e.displayText());
        }
        if (n <= 0) throw SharedStateUnavailable("connection closed by the server");
        begin_ = 0;
        end_ = std::size_t(n);
    }
    return buffer_[begin_++];
}

std::string RedisConnection::readLine() {
    std::string line;
    for (;;) {
        const char c = nextByte();
        if (c == '\r') {
            if (nextByte() != '\n') throw SharedStateUnavailable("protocol error: CR without LF");
            return line;
        }
        line.push_back(c);
        if (line.size() > 64 * 1024) throw SharedStateUnavailable("protocol error: line too long");
    }
}

RedisReply RedisConnection::read() {
    return readReply(0);
}

RedisReply RedisConnection::readReply(int depth) {
    if (depth > kMaxDepth) throw SharedStateUnavailable("protocol error: nested too deep");
    const char marker = nextByte();
    std::string line = readLine();
    RedisReply reply;
    auto number = [&]() -> std::int64_t {
        std::int64_t value = 0;
        const auto* end = line.data() + line.size();
        auto [ptr, ec] = std::from_chars(line.data(), end, value);
        if (ec != std::errc() || ptr != end) throw SharedStateUnavailable("protocol error: bad number");
        return value;
    };
    switch (marker) {
    case '+':
        reply.type = RedisReply::Type::Status;
        reply.str = std::move(line);
        return reply;
    case '-':
        reply.type = RedisReply::Type::Error;
        reply.str = std::move(line);
        return reply;
    case ':':
        reply.type = RedisReply::Type::Integer;
        reply.integer = number();
        return reply;
    case '$': {
        const auto length = number();
        if (length < 0) return reply; // nil
        if (length > kMaxBulk) throw SharedStateUnavailable("protocol error: bulk string too long");
        reply.type = RedisReply::Type::Bulk;
        reply.str.reserve(std::size_t(length));
        for (std::int64_t i = 0; i < length; ++i)
            reply.str.push_back(nextByte());
        if (nextByte() != '\r' || nextByte() != '\n') throw SharedStateUnavailable("protocol error: bulk end");
        return reply;
    }
    case '*': {
        const auto count = number();
        if (count < 0) return reply; // nil array
        if (count > 1024 * 1024) throw SharedStateUnavailable("protocol error: array too long");
        reply.type = RedisReply::Type::Array;
        reply.elements.reserve(std::size_t(count));
        for (std::int64_t i = 0; i < count; ++i)
            reply.elements.push_back(readReply(depth + 1));
        return reply;
    }
    default:
        throw SharedStateUnavailable("protocol error: unknown reply type");
    }
}

// ---------------------------------------------------------------------------------------------
// RedisClient

RedisClient::Script::Script(std::string source) : source_(std::move(source)) {
    Poco::SHA1Engine engine;
    engine.update(source_);
    sha_ = Poco::DigestEngine::digestToHex(engine.digest());
}

RedisClient::RedisClient(Options options, metrics::MetricsRegistry* metrics)
    : options_(std::move(options)), url_(RedisUrl::parse(options_.url)), metrics_(metrics) {
    if (options_.poolSize == 0) throw std::invalid_argument("redis pool size must be at least 1");
}

RedisClient::~RedisClient() = default;

std::unique_ptr<RedisConnection> RedisClient::connect() const {
    return std::make_unique<RedisConnection>(url_, options_.connectTimeout, options_.commandTimeout);
}

bool RedisClient::reachable() const {
    std::lock_guard lock(mutex_);
    return state_ != State::Down;
}

void RedisClient::reportFailure(const std::string& operation, const std::string& reason) {
    if (metrics_) metrics_->increment(metrics::name::kRedisErrors, {{"operation", operation}});
    std::lock_guard lock(mutex_);
    if (state_ == State::Down) return;
    state_ = State::Down;
    nextAttempt_ = std::chrono::steady_clock::now() + options_.retryInterval;
    spdlog::warn("redis: unreachable at {} ({})", url_.display(), reason);
    if (metrics_) metrics_->set(metrics::name::kRedisUp, {}, 0);
}

void RedisClient::reportSuccess() {
    std::lock_guard lock(mutex_);
    if (state_ == State::Up) return;
    if (state_ == State::Down) spdlog::info("redis: reachable again at {}", url_.display());
    state_ = State::Up;
    if (metrics_) metrics_->set(metrics::name::kRedisUp, {}, 1);
}

std::unique_ptr<RedisConnection> RedisClient::acquire() {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + options_.commandTimeout;
    for (;;) {
        if (!idle_.empty()) {
            auto connection = std::move(idle_.back());
            idle_.pop_back();
            return connection;
        }
        if (open_ < options_.poolSize) break;
        if (!available_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_ < options_.poolSize; }))
            throw SharedStateUnavailable("every pooled connection stayed busy for the command timeout");
    }
    // Open a new connection. While Redis is down, one caller per retry interval tries.
    const auto now = std::chrono::steady_clock::now();
    if (state_ == State::Down) {
        if (now < nextAttempt_) throw SharedStateUnavailable("still unreachable");
        nextAttempt_ = now + options_.retryInterval;
    }
    ++open_;
    lock.unlock();
    try {
        return connect();
    } catch (...) {
        lock.lock();
        --open_;
        available_.notify_one();
        throw;
    }
}

void RedisClient::giveBack(std::unique_ptr<RedisConnection> connection) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(connection));
    available_.notify_one();
}

void RedisClient::discard() {
    std::lock_guard lock(mutex_);
    --open_;
    available_.notify_one();
}

RedisReply RedisClient::run(const std::string& operation, const std::vector<std::string>& args) {
    std::unique_ptr<RedisConnection> connection;
    try {
        connection = acquire();
    } catch (const SharedStateUnavailable& e) {
        reportFailure(operation, e.what());
        throw;
    }
    RedisReply reply;
    ++roundTrips_;
    try {
        reply = connection->command(args);
    } catch (const SharedStateUnavailable& e) {
        connection.reset();
        discard();
        reportFailure(operation, e.what());
        throw SharedStateUnavailable(e.what(), true);
    }
    giveBack(std::move(connection));
    reportSuccess();
    return reply;
}

RedisReply RedisClient::command(const std::string& operation, const std::vector<std::string>& args) {
    auto reply = run(operation, args);
    if (reply.isError()) {
        if (metrics_) metrics_->increment(metrics::name::kRedisErrors, {{"operation", operation}});
        throw RedisCommandError(operation + ": " + reply.str);
    }
    return reply;
}

RedisReply RedisClient::eval(const std::string& operation, const Script& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args) {
    std::vector<std::string> command{"EVALSHA", script.sha(), std::to_string(keys.size())};
    command.insert(command.end(), keys.begin(), keys.end());
    command.insert(command.end(), args.begin(), args.end());
    auto reply = run(operation, command);
    if (reply.isError() && reply.str.rfind("NOSCRIPT", 0) == 0) {
        // Not loaded on this server yet (first use, or Redis restarted): load it and run again.
        auto loaded = run(operation, {"SCRIPT", "LOAD", script.source()});
        if (loaded.isError()) {
            if (metrics_) metrics_->increment(metrics::name::kRedisErrors, {{"operation", operation}});
            throw RedisCommandError(operation + ": SCRIPT LOAD: " + loaded.str);
        }
        reply = run(operation, command);
    }
    if (reply.isError()) {
        if (metrics_) metrics_->increment(metrics::name::kRedisErrors, {{"operation", operation}});
        throw RedisCommandError(operation + ": " + reply.str);
    }
    return reply;
}

} // namespace sideband::fleet
