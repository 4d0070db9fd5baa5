// HttpServer::stop() on a real listener (HTTPS and plain HTTP): a request in progress gets its
// answer, idle keep-alive connections do not hold the stop up, and the grace is a bound.
#include "Eventually.h"
#include "TestCertificates.h"
#include "TestHttpClient.h"
#include "TransportMode.h"

#include "http/HttpServer.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <future>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;

namespace {

class HttpServerStopTest : public ::testing::TestWithParam<TransportMode> {
protected:
    // `/slow` answers once the server is stopping and `release` says so; `/fast` answers at once.
    void start(std::chrono::milliseconds grace) {
        auto routes = std::make_shared<http::Routes>();
        routes->add("GET", "/fast", [](const http::Request&) { return http::Response::json(200, R"({"ok":true})"); });
        routes->add("GET", "/slow", [this](const http::Request&) {
            entered_ = true;
            eventually([&] { return release_(); }, 60s);
            return http::Response::json(200, R"({"ok":"late"})");
        });
        http::ListenerOptions options;
        options.address = "127.0.0.1:0";
        if (GetParam().tls) {
            options.tlsCertFile = TestCertificates::shared().certFile();
            options.tlsKeyFile = TestCertificates::shared().keyFile();
        }
        options.workers = 4;
        options.headTimeout = 10min; // only the stop may end a slow client here
        options.stopGrace = grace;
        server_ = std::make_unique<http::HttpServer>(options, routes);
        server_->start();
    }

    std::unique_ptr<TestHttpClient> client(bool keepAlive = false) const {
        return std::make_unique<TestHttpClient>("127.0.0.1", server_->port(),
                                                GetParam().tls ? TestCertificates::shared().caFile() : "", keepAlive);
    }

    // The request to /slow, on its own thread; its result or the error the client saw.
    std::future<std::string> slowRequest() {
        return std::async(std::launch::async, [client = client()] {
            try {
                const auto result = client->get("/slow");
                return std::to_string(result.status) + " " + result.body;
            } catch (const std::exception& e) {
                return std::string("error: ") + e.what();
            }
        });
    }

    // A connection that has sent part of a request's headers and then nothing.
    std::unique_ptr<Poco::Net::StreamSocket> halfSentRequest() const {
        const Poco::Net::SocketAddress address("127.0.0.1", server_->port());
        std::unique_ptr<Poco::Net::StreamSocket> socket;
        if (GetParam().tls) {
            Poco::Net::Context::Params params;
            params.caLocation = TestCertificates::shared().caFile();
            params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
            socket = std::make_unique<Poco::Net::SecureStreamSocket>(
                address, new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params));
        } else {
            socket = std::make_unique<Poco::Net::StreamSocket>(address);
        }
        const std::string part = "GET /fast HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        socket->sendBytes(part.data(), static_cast<int>(part.size()));
        return socket;
    }

    // End of stream, or on TLS the error of a close without close_notify; not a timeout, not data.
    static bool closedWithoutAnAnswer(Poco::Net::StreamSocket& socket) {
        char byte = 0;
        try {
            return socket.receiveBytes(&byte, 1) <= 0;
        } catch (const Poco::TimeoutException&) {
            return false;
        } catch (const Poco::Exception&) {
            return true;
        }
    }

    bool refusesConnections() const {
        try {
            Poco::Net::StreamSocket probe;
            probe.connect(Poco::Net::SocketAddress("127.0.0.1", server_->port()), Poco::Timespan(1, 0));
            return false;
        } catch (const Poco::Exception&) {
            return true;
        }
    }

    std::atomic<bool> entered_{false};
    std::function<bool()> release_ = [] { return true; };
    std::unique_ptr<http::HttpServer> server_;
};

} // namespace

TEST_P(HttpServerStopTest, ARequestInProgressIsAnsweredBeforeTheConnectionsClose) {
    // Answers only once the stop has gone as far as refusing new connections.
    release_ = [this] { return server_->stopping() && refusesConnections(); };
    start(60s);
    auto answer = slowRequest();
    ASSERT_TRUE(eventually([&] { return entered_.load(); }));
    server_->stop();
    EXPECT_EQ(answer.get(), R"(200 {"ok":"late"})");
}

TEST_P(HttpServerStopTest, AnIdleKeptAliveConnectionDoesNotHoldTheStop) {
    start(10min); // a stop that waited for the idle connection would run into the test's timeout
    auto idle = client(true);
    ASSERT_EQ(idle->get("/fast").status, 200);
    server_->stop();
    EXPECT_THROW(idle->get("/fast"), std::exception) << "the idle connection was closed";
}

TEST_P(HttpServerStopTest, ARequestStillRunningAtTheEndOfTheGraceIsCutOff) {
    std::atomic<bool> cutOff{false};
    release_ = [&] { return cutOff.load(); }; // the handler outlives the grace; the client sees the close
    start(50ms);
    auto answer = std::async(std::launch::async, [&, client = client()] {
        std::string seen;
        try {
            seen = std::to_string(client->get("/slow").status);
        } catch (const std::exception& e) {
            seen = "error";
        }
        cutOff = true;
        return seen;
    });
    ASSERT_TRUE(eventually([&] { return entered_.load(); }));
    server_->stop();
    EXPECT_EQ(answer.get(), "error");
}

TEST_P(HttpServerStopTest, AClientHalfWayThroughARequestIsCutOffAtTheGrace) {
    start(50ms); // a stop that waited for the rest of the request would run into the test's timeout
    auto slow = halfSentRequest();
    ASSERT_EQ(client()->get("/fast").status, 200); // the server is serving; the half request is being read
    server_->stop();
    slow->setReceiveTimeout(Poco::Timespan(10, 0));
    EXPECT_TRUE(closedWithoutAnAnswer(*slow));
}

TEST_P(HttpServerStopTest, NewConnectionsAreRefusedOnceStopped) {
    start(60s);
    server_->stop();
    EXPECT_THROW(client()->get("/fast"), std::exception);
}

INSTANTIATE_TEST_SUITE_P(Transports, HttpServerStopTest, bothTransports(), transportName);
