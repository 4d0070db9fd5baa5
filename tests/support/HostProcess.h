#pragma once

#include <Poco/Pipe.h>
#include <Poco/Process.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sideband::testing {

// The real sideband-host binary, run as a child process with a chosen environment; its stderr is
// collected so tests can read the log lines.
class HostProcess {
public:
    HostProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env, const std::string& stdinText = {});
    ~HostProcess();

    // Polls GET path on 127.0.0.1:port (plain HTTP) until it answers 200 or the process exits.
    bool waitForHttp(unsigned short port, const std::string& path = "/healthz", int timeoutMs = 10000);
    void signal(int signo);
    int wait(); // exit code
    std::string output();      // stderr so far (and stdout, which is merged)
    std::string standardOut(); // stdout only, after wait()

private:
    Poco::Pipe outPipe_;
    Poco::Pipe errPipe_;
    std::unique_ptr<Poco::ProcessHandle> handle_;
    std::thread errReader_;
    std::thread outReader_;
    std::mutex mutex_;
    std::string err_;
    std::string out_;
    int exitCode_ = -1;
    bool exited_ = false;
};

// A TCP port that was free a moment ago on 127.0.0.1.
unsigned short freePort();

} // namespace sideband::testing
