// Type=notify readiness (packaging/systemd/sideband-host.service): the real sideband-host, started
// the way systemd starts it - with NOTIFY_SOCKET naming a unix datagram socket - must send READY=1
// once its listener answers, and STOPPING=1 when SIGTERM starts the shutdown.
#include "HostProcess.h"
#include "TestHttpClient.h"

#include "app/SystemdNotify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

using namespace sideband::testing;
using ::testing::HasSubstr;

namespace {

// What systemd does for a Type=notify service: a unix datagram socket, its path in NOTIFY_SOCKET.
class NotifySocket {
public:
    NotifySocket() {
        char dirTemplate[] = "/tmp/sideband-notify-XXXXXX"; // short: sun_path holds 108 bytes
        if (::mkdtemp(dirTemplate) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = dirTemplate;
        path_ = dir_ + "/notify";
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error("bind failed: " + std::string(std::strerror(errno)));
    }
    ~NotifySocket() {
        ::close(fd_);
        std::filesystem::remove_all(dir_);
    }
    const std::string& path() const { return path_; }
    const std::string& dir() const { return dir_; }

    // The next datagram, or "" after timeoutMs.
    std::string receive(int timeoutMs) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeoutMs) <= 0) return {};
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
    }

    // Datagrams until one contains `needle` (returned), or "" after timeoutMs overall.
    std::string receiveContaining(const std::string& needle, int timeoutMs) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
        while (std::chrono::steady_clock::now() < deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            std::string message = receive(static_cast<int>(left.count()) + 1);
            if (message.find(needle) != std::string::npos) return message;
        }
        return {};
    }

private:
    std::string dir_;
    std::string path_;
    int fd_ = -1;
};

std::map<std::string, std::string> hostEnv(unsigned short port, const std::string& dir) {
    return {{"SIDEBAND_LISTEN", "127.0.0.1:" + std::to_string(port)},
            {"SIDEBAND_DB", "sqlite:" + dir + "/sideband.db"}, // never shared with a parallel test
            {"SIDEBAND_INSECURE_HTTP", "1"},
            {"OPENAI_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
            {"OPENAI_API_KEY", "sk-test-notify"}};
}

} // namespace

TEST(SystemdNotify, HostSendsReadyOnlyOnceItAnswersAndStoppingOnSigterm) {
    NotifySocket socket;
    const unsigned short port = freePort();
    auto env = hostEnv(port, socket.dir());
    env["NOTIFY_SOCKET"] = socket.path();
    HostProcess host(SIDEBAND_HOST_BINARY, {}, env);

    const std::string ready = socket.receiveContaining("READY=1", 15000);
    ASSERT_THAT(ready, HasSubstr("READY=1")) << "no READY=1 on NOTIFY_SOCKET; host output:\n" << host.output();
    EXPECT_THAT(ready, HasSubstr("STATUS=serving on 127.0.0.1:" + std::to_string(port)));
    // READY=1 promises a listening host: the very first request must succeed, with no retry.
    EXPECT_EQ(TestHttpClient("127.0.0.1", port).get("/healthz").status, 200);

    host.signal(SIGTERM);
    const std::string stopping = socket.receiveContaining("STOPPING=1", 15000);
    EXPECT_THAT(stopping, HasSubstr("STOPPING=1")) << host.output();
    EXPECT_EQ(host.wait(), 0) << host.output();
}

TEST(SystemdNotify, HostRefusingItsConfigurationNeverSendsReady) {
    NotifySocket socket;
    auto env = hostEnv(freePort(), socket.dir());
    env["OPENAI_WEBHOOK_SECRET"] = "";
    env["NOTIFY_SOCKET"] = socket.path();
    HostProcess host(SIDEBAND_HOST_BINARY, {}, env);
    EXPECT_EQ(host.wait(), 78) << host.output();
    EXPECT_EQ(socket.receive(200), "");
}

TEST(SystemdNotify, IsANoOpWithoutNotifySocket) {
    const char* saved = std::getenv("NOTIFY_SOCKET");
    const std::string savedValue = saved ? saved : "";
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(sideband::systemd::notifyReady());
    EXPECT_FALSE(sideband::systemd::notifyStatus("idle"));
    if (saved) ::setenv("NOTIFY_SOCKET", savedValue.c_str(), 1);
}

TEST(SystemdNotify, SendsTheGivenStateToNotifySocket) {
    NotifySocket socket;
    ::setenv("NOTIFY_SOCKET", socket.path().c_str(), 1);
    const bool sent = sideband::systemd::notifyStatus("draining 3 calls");
    ::unsetenv("NOTIFY_SOCKET");
#if defined(SIDEBAND_TEST_HAVE_LIBSYSTEMD)
    EXPECT_TRUE(sent);
    EXPECT_EQ(socket.receive(2000), "STATUS=draining 3 calls");
#else
    EXPECT_FALSE(sent);
    GTEST_SKIP() << "built without libsystemd: notifications are compiled out";
#endif
}
