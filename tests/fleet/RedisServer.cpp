#include "RedisServer.h"

#include "core/Logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include <mutex>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace sideband::testing {

namespace {

std::string run(const std::string& command) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) throw std::runtime_error("popen failed: " + command);
    std::array<char, 256> buffer{};
    while (fgets(buffer.data(), int(buffer.size()), pipe))
        out += buffer.data();
    if (pclose(pipe) != 0) throw std::runtime_error("failed: " + command + "\n" + out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

int pidOf(const std::string& dir) {
    std::ifstream in(dir + "/redis.pid");
    int pid = 0;
    in >> pid;
    if (pid <= 0) throw std::runtime_error("no redis pid in " + dir);
    return pid;
}

} // namespace

RedisServer::RedisServer() {
    char templ[] = "/tmp/sideband-redis-XXXXXX";
    if (!mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    url_ = run(std::string(SIDEBAND_REDIS_SCRIPT) + " start " + dir_);
    port_ = url_.substr(url_.rfind(':') + 1);
}

RedisServer::~RedisServer() {
    try {
        thaw();
        stop();
        run("rm -rf " + dir_);
    } catch (...) {
    }
}

void RedisServer::stop() {
    run(std::string(SIDEBAND_REDIS_SCRIPT) + " stop " + dir_);
}

void RedisServer::start() {
    const auto url = run(std::string(SIDEBAND_REDIS_SCRIPT) + " start " + dir_ + " " + port_);
    if (url != url_) throw std::runtime_error("redis restarted at " + url + ", not " + url_);
}

void RedisServer::freeze() {
    ::kill(pidOf(dir_), SIGSTOP);
}

void RedisServer::thaw() {
    std::ifstream in(dir_ + "/redis.pid");
    int pid = 0;
    if (in >> pid && pid > 0) ::kill(pid, SIGCONT);
}

const std::string& sharedRedisUrl() {
    static const std::string url = [] {
        if (const char* env = std::getenv("SIDEBAND_TEST_REDIS_URL"); env && *env) return std::string(env);
        static RedisServer privateServer; // stopped at exit
        return privateServer.url();
    }();
    return url;
}

class LogCapture::Sink : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::string text() {
        std::lock_guard lock(mutex_);
        return text_;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        text_.append(formatted.data(), formatted.size());
    }
    void flush_() override {}

private:
    std::string text_;
};

LogCapture::LogCapture() : sink_(std::make_shared<Sink>()) {
    logging::configure(logging::Format::Human, spdlog::level::info, sink_);
}

LogCapture::~LogCapture() {
    // set_default_logger registered the capturing logger under the name configure() looks up.
    spdlog::drop("sideband");
    logging::configure(logging::Format::Human, spdlog::level::info);
}

std::string LogCapture::text() const {
    return sink_->text();
}

int LogCapture::count(const std::string& needle) const {
    const auto all = text();
    int n = 0;
    for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + needle.size()))
        ++n;
    return n;
}

std::string uniquePrefix() {
    static std::atomic<int> counter{0};
    std::string name = "sbtest:";
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
        name += std::string(info->test_suite_name()) + "." + info->name();
    return name + ":" + std::to_string(::getpid()) + ":" + std::to_string(counter++) + ":";
}

} // namespace sideband::testing
