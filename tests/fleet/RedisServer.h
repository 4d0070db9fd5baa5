#pragma once

#include <memory>
#include <string>

namespace sideband::testing {

// A redis-server of a test's own, started by tests/servers/redis.sh in a temporary folder; for the
// tests that stop, freeze or restart Redis. Stopped and removed by the destructor.
class RedisServer {
public:
    RedisServer();
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    const std::string& url() const { return url_; }
    void stop();
    void start();  // again, on the same port (nothing kept: the data is gone)
    void freeze(); // SIGSTOP: connections stay open, nothing answers
    void thaw();   // SIGCONT

private:
    std::string dir_;
    std::string url_;
    std::string port_;
};

// The Redis the stateless tests share: $SIDEBAND_TEST_REDIS_URL (tools/run-tests.sh starts one), or
// else a private server for this test process. Never skipped: failing to start one fails the test.
const std::string& sharedRedisUrl();

// A key prefix of the running test's own, so tests running in parallel on one server never meet.
std::string uniquePrefix();

// Captures the default logger's lines while it lives (human format, info and up).
class LogCapture {
public:
    LogCapture();
    ~LogCapture();
    std::string text() const;
    int count(const std::string& needle) const;

    class Sink; // keeps the lines under its own lock, so reading them never races a writer

private:
    std::shared_ptr<Sink> sink_;
};

} // namespace sideband::testing
