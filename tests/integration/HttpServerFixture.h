#pragma once

// A real HttpServer on 127.0.0.1 (HTTPS or plain HTTP, the suite's parameter) with the routes the
// HTTP tests need, its metrics, and raw connections to it.
#include "Gate.h"
#include "RawHttpConnection.h"
#include "TestCertificates.h"
#include "TransportMode.h"

#include "http/HttpServer.h"
#include "metrics/MetricsRegistry.h"
#include "metrics/SidebandMetrics.h"

#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <string>

namespace sideband::testing {

class HttpServerFixture : public ::testing::TestWithParam<TransportMode> {
protected:
    // The host ignores SIGPIPE; a test writing to a connection the server has closed must too.
    static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

    void TearDown() override {
        gate_.open(); // a blocked route must not hold the stop
        if (server_) server_->stop();
    }

    bool tls() const { return GetParam().tls; }

    // 127.0.0.1, a free port, TLS as the parameter says, metrics counted into metrics_.
    http::ListenerOptions options() {
        http::ListenerOptions options;
        options.address = "127.0.0.1:0";
        if (tls()) {
            options.tlsCertFile = TestCertificates::shared().certFile();
            options.tlsKeyFile = TestCertificates::shared().keyFile();
        }
        options.workers = 4;
        options.metrics = &metrics_;
        return options;
    }

    // GET /healthz, /readyz (inline, on the loop); POST /echo (its body back), POST /webhook (401
    // unless `webhook-signature: good`), GET /status?NNN (that status), GET /big?BYTES, GET /block
    // (waits at gate_) on the workers.
    std::shared_ptr<http::Routes> routes() {
        auto routes = std::make_shared<http::Routes>();
        routes->add(
            "GET", "/healthz", [](const http::Request&) { return http::Response::json(200, R"({"status":"ok"})"); },
            http::RunOn::Inline);
        routes->add(
            "GET", "/readyz", [](const http::Request&) { return http::Response::json(200, R"({"status":"ready"})"); },
            http::RunOn::Inline);
        routes->add("POST", "/echo",
                    [](const http::Request& request) { return http::Response::text(200, "text/plain", request.body); });
        routes->add("POST", "/webhook", [](const http::Request& request) {
            if (request.header("webhook-signature") != "good")
                return http::Response::json(401, R"({"detail":"Invalid signature"})");
            return http::Response::json(200, R"({"ok":true})");
        });
        routes->add("GET", "/status", [](const http::Request& request) {
            const auto status = std::stoi(request.target.substr(request.target.find('?') + 1));
            return http::Response::json(status, "{}");
        });
        routes->add("GET", "/big", [](const http::Request& request) {
            const auto bytes = std::stoul(request.target.substr(request.target.find('?') + 1));
            return http::Response::text(200, "application/octet-stream", std::string(bytes, 'x'));
        });
        routes->add("GET", "/block", [this](const http::Request&) {
            gate_.pass();
            return http::Response::json(200, R"({"released":true})");
        });
        return routes;
    }

    void start(const http::ListenerOptions& options) {
        metrics::declareSidebandMetrics(metrics_);
        server_ = std::make_unique<http::HttpServer>(options, routes());
        server_->start();
    }
    void start() { start(options()); }

    std::unique_ptr<RawHttpConnection> connect() const {
        return std::make_unique<RawHttpConnection>(server_->port(),
                                                   tls() ? TestCertificates::shared().caFile() : std::string());
    }
    // A TCP connection with no TLS, whatever the listener speaks.
    std::unique_ptr<RawHttpConnection> connectPlain() const {
        return std::make_unique<RawHttpConnection>(server_->port());
    }

    // More pipelined behind a request held at gate_ (closed here) than the server buffers, so that
    // it stops reading this client: GET /block, then POST /echo with kBigBody, then with kRestBody.
    static inline const std::string kBigBody = std::string(1024 * 1024, 'b');
    static inline const std::string kRestBody = std::string(32 * 1024, 'r');
    std::unique_ptr<RawHttpConnection> pausedBehindAHeldRequest() {
        gate_.close();
        auto connection = connect();
        connection->send(rawRequest("GET", "/block") + rawRequest("POST", "/echo", kBigBody) +
                         rawRequest("POST", "/echo", kRestBody));
        EXPECT_TRUE(gate_.waitUntilHeld());
        return connection;
    }
    // The three answers to pausedBehindAHeldRequest(), once gate_ is open.
    static void expectTheHeldPipelineAnswered(RawHttpConnection& connection) {
        EXPECT_EQ(connection.readResponse().body, R"({"released":true})");
        EXPECT_EQ(connection.readResponse().body.size(), kBigBody.size());
        EXPECT_EQ(connection.readResponse().body, kRestBody);
    }

    // GET /healthz on a fresh connection: its status line (or the error).
    std::string healthOnAFreshConnection() const {
        try {
            auto connection = connect();
            connection->send(rawRequest("GET", "/healthz"));
            return connection->readResponse().statusLine;
        } catch (const std::exception& e) {
            return std::string("error: ") + e.what();
        }
    }

    double closedFor(const std::string& reason) const {
        return metrics_.value(metrics::name::kHttpConnectionsClosed, {{"listener", "main"}, {"reason", reason}});
    }
    double refusedWith(int status) const {
        return metrics_.value(metrics::name::kHttpRequestsRefused,
                              {{"listener", "main"}, {"reason", std::to_string(status)}});
    }
    double saturated() const { return metrics_.value(metrics::name::kHttpSaturated, {{"listener", "main"}}); }

    metrics::MetricsRegistry metrics_;
    Gate gate_;
    std::unique_ptr<http::HttpServer> server_;
};

} // namespace sideband::testing
