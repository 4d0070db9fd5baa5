#pragma once

#include <Poco/Net/StreamSocket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace sideband::metrics {
class MetricsRegistry;
}

namespace sideband::fleet {

// Redis could not be reached (connect refused or timed out, connection lost, no answer within the
// command timeout). Shared state is unknown: callers fail closed (reject new calls, answer 503).
class SharedStateUnavailable : public std::runtime_error {
public:
    explicit SharedStateUnavailable(const std::string& what, bool maybeApplied = false)
        : std::runtime_error(what), maybeApplied_(maybeApplied) {}
    // The command was (perhaps partly) sent before the failure: Redis may have run it.
    bool maybeApplied() const { return maybeApplied_; }

private:
    bool maybeApplied_;
};

// Redis answered with an error reply (a bug in a script or a command, not an outage).
class RedisCommandError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// redis://[[user]:password@]host[:port][/db]
struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::string user;     // empty: the default user (AUTH password)
    std::string password; // never logged: display() leaves it out

    static RedisUrl parse(const std::string& url); // throws std::invalid_argument
    std::string display() const;                   // host:port (no password, no db)
};

// One RESP2 reply.
struct RedisReply {
    enum class Type { Nil, Status, Error, Integer, Bulk, Array };
    Type type = Type::Nil;
    std::string str; // Status, Error, Bulk
    std::int64_t integer = 0;
    std::vector<RedisReply> elements;

    bool isNil() const { return type == Type::Nil; }
    bool isError() const { return type == Type::Error; }
};

// One connection speaking RESP2 over a Poco socket. Every read and write has a timeout, so no call
// blocks forever. (Poco 1.11's Redis::Client has no send timeout and turns a receive timeout into a
// stream state its bulk-string reader ignores, so the protocol is read here, strictly.) Any I/O or
// protocol failure throws SharedStateUnavailable and leaves the connection unusable: discard it.
class RedisConnection {
public:
    RedisConnection(const RedisUrl& url, std::chrono::milliseconds connectTimeout, std::chrono::milliseconds ioTimeout);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // Sends one command and reads its reply (an error reply is returned, not thrown).
    RedisReply command(const std::vector<std::string>& args);
    void send(const std::vector<std::string>& args);
    RedisReply read();
    // True when a reply (or part of one) can be read without blocking, waiting up to `timeout`.
    bool poll(std::chrono::milliseconds timeout);

private:
    char nextByte();
    std::string readLine();
    RedisReply readReply(int depth);

    Poco::Net::StreamSocket socket_;
    std::string endpoint_;
    std::vector<char> buffer_;
    std::size_t begin_ = 0, end_ = 0;
};

// A small bounded pool of connections to one Redis server, with reachability tracking: exactly one
// log line per state change ("redis: unreachable at host:port (reason)" / "redis: reachable
// again"), the gauge sideband_redis_up and the counter sideband_redis_errors_total{operation}.
// Thread-safe.
struct RedisClientOptions {
    std::string url = "redis://127.0.0.1:6379";
    std::size_t poolSize = 4;
    std::chrono::milliseconds connectTimeout{500};
    std::chrono::milliseconds commandTimeout{500}; // each send and each receive
    // While unreachable, at most one caller per interval tries to connect; the others fail at
    // once, so an outage does not make every call wait for a connect timeout.
    std::chrono::milliseconds retryInterval{250};
};

class RedisClient {
public:
    using Options = RedisClientOptions;

    // A Lua script, loaded once (SCRIPT LOAD) and run by its SHA (EVALSHA, reloaded on NOSCRIPT).
    class Script {
    public:
        explicit Script(std::string source);
        const std::string& source() const { return source_; }
        const std::string& sha() const { return sha_; }

    private:
        std::string source_;
        std::string sha_;
    };

    RedisClient(Options options, metrics::MetricsRegistry* metrics = nullptr);
    ~RedisClient();

    // Both throw SharedStateUnavailable when Redis cannot be reached and RedisCommandError on an
    // error reply. `operation` labels sideband_redis_errors_total.
    RedisReply command(const std::string& operation, const std::vector<std::string>& args);
    RedisReply eval(const std::string& operation, const Script& script, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args);

    // Whether the last attempt reached Redis (true before the first one).
    bool reachable() const;
    // A failure the caller noticed on a connection of its own (the pub/sub subscriber).
    void reportFailure(const std::string& operation, const std::string& reason);
    void reportSuccess();

    // Commands sent through the pool so far (round trips; the subscriber's are not counted).
    std::uint64_t roundTrips() const { return roundTrips_.load(); }
    const RedisUrl& url() const { return url_; }
    const Options& options() const { return options_; }
    std::unique_ptr<RedisConnection> connect() const; // a fresh connection, outside the pool

private:
    enum class State { Unknown, Up, Down };
    class Lease;

    std::unique_ptr<RedisConnection> acquire();
    void giveBack(std::unique_ptr<RedisConnection> connection);
    void discard();
    RedisReply run(const std::string& operation, const std::vector<std::string>& args);

    const Options options_;
    const RedisUrl url_;
    metrics::MetricsRegistry* const metrics_;

    mutable std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<RedisConnection>> idle_;
    std::size_t open_ = 0; // idle + lent out
    State state_ = State::Unknown;
    std::chrono::steady_clock::time_point nextAttempt_{};
    std::atomic<std::uint64_t> roundTrips_{0};
};

} // namespace sideband::fleet
