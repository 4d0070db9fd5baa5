// Holds many client connections to a listener from a process of its own, so that the process under
// test spends its file descriptors on its side of them only:
//   connection_holder PORT IDLE SLOW [CA_FILE]
// opens IDLE TCP connections that send nothing and SLOW connections (TLS when CA_FILE is given)
// that each send one byte of a never-ending request head per second, prints "ready" once all are
// open, and when its standard input closes prints "closed N failed M" (idle connections the server
// closed, slow ones it could no longer write to) and exits.
#include "RawHttpConnection.h"

#include <Poco/Net/StreamSocket.h>

#include <poll.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: connection_holder PORT IDLE SLOW [CA_FILE]\n";
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);

    const auto port = static_cast<std::uint16_t>(std::stoi(argv[1]));
    const auto idleCount = std::stoul(argv[2]);
    const auto slowCount = std::stoul(argv[3]);
    const std::string caFile = argc > 4 ? argv[4] : "";
    try {
        std::vector<Poco::Net::StreamSocket> idle;
        const Poco::Net::SocketAddress address("127.0.0.1", port);
        for (std::size_t i = 0; i < idleCount; ++i)
            idle.emplace_back(address);
        struct Slow {
            std::unique_ptr<sideband::testing::RawHttpConnection> connection;
            std::size_t sent = 0; // bytes of its head so far
        };
        std::vector<Slow> slow;
        for (std::size_t i = 0; i < slowCount; ++i)
            slow.push_back({std::make_unique<sideband::testing::RawHttpConnection>(port, caFile)});

        std::atomic<bool> holding{true};
        std::atomic<std::size_t> failed{0};
        std::thread dripper([&] {
            const std::string head = "POST /api/v1/openai/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
            while (holding) {
                for (auto& client : slow) {
                    try {
                        client.connection->send(client.sent < head.size() ? head.substr(client.sent, 1) : "z");
                        ++client.sent;
                    } catch (const std::exception&) {
                        ++failed;
                    }
                }
                for (int i = 0; i < 100 && holding; ++i)
                    std::this_thread::sleep_for(10ms);
            }
        });
        std::cout << "ready" << std::endl;

        std::string line;
        while (std::getline(std::cin, line)) {
        }
        holding = false;
        dripper.join();
        // An idle connection the server closed is readable (end of stream); one still open is not.
        std::vector<pollfd> fds;
        for (const auto& socket : idle)
            fds.push_back({static_cast<int>(socket.impl()->sockfd()), POLLIN | POLLRDHUP, 0});
        ::poll(fds.data(), fds.size(), 0);
        std::size_t closed = 0;
        for (const auto& fd : fds)
            closed += fd.revents != 0 ? 1 : 0;
        std::cout << "closed " << closed << " failed " << failed.load() << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cout << "error " << e.what() << std::endl;
        return 1;
    }
}
