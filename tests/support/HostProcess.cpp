#include "HostProcess.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/PipeStream.h>

#include <chrono>
#include <csignal>
#include <istream>

namespace sideband::testing {

HostProcess::HostProcess(const std::string& binary, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env, const std::string& stdinText) {
    Poco::Process::Env environment(env.begin(), env.end());
    Poco::Pipe inPipe;
    handle_ = std::make_unique<Poco::ProcessHandle>(
        Poco::Process::launch(binary, args, ".", &inPipe, &outPipe_, &errPipe_, environment));
    {
        Poco::PipeOutputStream in(inPipe);
        in << stdinText;
        in.close();
    }
    // readBytes returns what the pipe holds now (read(2)), so output() sees lines as they are written.
    auto reader = [this](Poco::Pipe& pipe, std::string& sink) {
        char buffer[4096];
        for (;;) {
            int n = 0;
            try {
                n = pipe.readBytes(buffer, sizeof buffer);
            } catch (const Poco::Exception&) {
                n = 0;
            }
            if (n <= 0) break;
            std::lock_guard lock(mutex_);
            sink.append(buffer, static_cast<std::size_t>(n));
        }
    };
    errReader_ = std::thread(reader, std::ref(errPipe_), std::ref(err_));
    outReader_ = std::thread(reader, std::ref(outPipe_), std::ref(out_));
}

HostProcess::~HostProcess() {
    if (!exited_) {
        signal(SIGKILL);
        wait();
    }
}

bool HostProcess::waitForHttp(unsigned short port, const std::string& path, int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (std::chrono::steady_clock::now() < deadline) {
        if (!Poco::Process::isRunning(*handle_)) return false;
        try {
            Poco::Net::HTTPClientSession session("127.0.0.1", port);
            session.setTimeout(Poco::Timespan(1, 0));
            Poco::Net::HTTPRequest request("GET", path);
            session.sendRequest(request);
            Poco::Net::HTTPResponse response;
            session.receiveResponse(response);
            if (response.getStatus() == 200) return true;
        } catch (const Poco::Exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

void HostProcess::signal(int signo) { ::kill(handle_->id(), signo); }

int HostProcess::wait() {
    if (!exited_) {
        exitCode_ = handle_->wait();
        exited_ = true;
        if (errReader_.joinable()) errReader_.join();
        if (outReader_.joinable()) outReader_.join();
    }
    return exitCode_;
}

std::string HostProcess::output() {
    std::lock_guard lock(mutex_);
    return err_;
}

std::string HostProcess::standardOut() {
    std::lock_guard lock(mutex_);
    return out_;
}

unsigned short freePort() {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
    return socket.address().port();
}

} // namespace sideband::testing
