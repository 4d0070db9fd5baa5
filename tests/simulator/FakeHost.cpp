#include "FakeHost.h"

#include "TestCertificates.h"
#include "TestHttpClient.h"
#include "core/Clock.h"
#include "core/Json.h"

#include <Poco/JSON/Object.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>

namespace sideband::testing {
namespace {

class Handler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(FakeHost& host) : host_(host) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        std::map<std::string, std::string> headers;
        for (const auto& [name, value] : request)
            headers[Poco::toLower(name)] = value;
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        int status = 200;
        std::string answer;
        host_.handle(headers, body, status, answer);
        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
        response.setContentType("application/json");
        response.setContentLength(static_cast<std::streamsize>(answer.size()));
        response.send() << answer;
    }

private:
    FakeHost& host_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(FakeHost& host) : host_(host) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
        return new Handler(host_);
    }

private:
    FakeHost& host_;
};

} // namespace

FakeHost::FakeHost(const std::string& secret, bool tls, unsigned short simulatorPort, bool simulatorTls)
    : keys_(webhook::parseWebhookSecrets(secret)), tls_(tls), simulatorPort_(simulatorPort),
      simulatorTls_(simulatorTls) {
    Poco::Net::ServerSocket socket;
    if (tls) {
        Poco::Net::Context::Params params;
        params.certificateFile = TestCertificates::shared().certFile();
        params.privateKeyFile = TestCertificates::shared().keyFile();
        params.verificationMode = Poco::Net::Context::VERIFY_NONE;
        socket = Poco::Net::SecureServerSocket(Poco::Net::SocketAddress("127.0.0.1:0"), 64,
                                               new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params));
    } else {
        socket = Poco::Net::ServerSocket(Poco::Net::SocketAddress("127.0.0.1:0"), 64);
    }
    port_ = socket.address().port();
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket, new Poco::Net::HTTPServerParams);
    server_->start();
}

FakeHost::~FakeHost() {
    server_->stopAll(true);
    for (auto& thread : sessions_)
        thread.join();
}

std::string FakeHost::webhookUrl() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/api/v1/openai/webhook";
}

std::vector<FakeHost::Delivery> FakeHost::deliveries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return deliveries_;
}

void FakeHost::handle(const std::map<std::string, std::string>& headers, const std::string& body, int& status,
                      std::string& answer) {
    auto header = [&](const char* name) {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    };
    const webhook::WebhookVerifier verifier(keys_, SystemClock::instance());
    const auto verified = verifier.verify(
        webhook::SignatureHeaders{header("webhook-id"), header("webhook-timestamp"), header("webhook-signature")},
        body);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        deliveries_.push_back(Delivery{headers, body, verified});
    }
    if (verified != webhook::VerifyResult::Ok) {
        status = 401;
        answer = R"({"detail":"Invalid signature"})";
        return;
    }
    const auto event = json::parse(body).extract<Poco::JSON::Object::Ptr>();
    if (event->getValue<std::string>("type") != "realtime.call.incoming") {
        answer = R"({"ok":true})";
        return;
    }
    const auto callId = event->getObject("data")->getValue<std::string>("call_id");
    TestHttpClient rest("127.0.0.1", simulatorPort_, simulatorTls_ ? TestCertificates::shared().caFile() : "");
    const std::map<std::string, std::string> auth = {
        {"Authorization", "Bearer sk-test"},
        {"Idempotency-Key", (rejectCalls ? "reject_" : "accept_") + event->getValue<std::string>("id")}};
    if (rejectCalls) {
        rest.request("POST", "/v1/realtime/calls/" + callId + "/reject", R"({"status_code":486})", auth);
        answer = R"({"ok":true,"rejected":"capacity"})";
        return;
    }
    rest.request("POST", "/v1/realtime/calls/" + callId + "/accept",
                 R"({"type":"realtime","model":"gpt-realtime","instructions":"Book cleanings"})", auth);
    answer = R"({"ok":true,"accepted":true,"tenant_id":"tenant_dental","fallback":false})";
    std::lock_guard<std::mutex> lock(mutex_);
    sessions_.emplace_back([this, callId] { runSession(callId); });
}

void FakeHost::runSession(std::string callId) {
    try {
        SidebandTestClient client(simulatorPort_, callId, simulatorTls_ ? TestCertificates::shared().caFile() : "");
        client.send(R"({"type":"session.update","session":{"type":"realtime","instructions":"Book cleanings",)"
                    R"("tools":[{"type":"function","name":"find_slots"}]}})");
        for (;;) {
            const auto frame = client.receiveFrame(std::chrono::milliseconds(10000));
            if (frame.closed || frame.opcode == -1) return;
            if (frame.opcode == Poco::Net::WebSocket::FRAME_OP_CLOSE) {
                client.close();
                return;
            }
            // The turn protocol (reference §3): a response's function calls run once it completed;
            // every output, then one response.create. A cancelled response's calls never run.
            const auto event = json::parse(frame.payload).extract<Poco::JSON::Object::Ptr>();
            if (event->getValue<std::string>("type") != "response.done") continue;
            const auto response = event->getObject("response");
            if (response->getValue<std::string>("status") != "completed") continue;
            const auto items = response->getArray("output");
            bool ran = false;
            for (std::size_t i = 0; i < items->size(); ++i) {
                const auto item = items->getObject(i);
                if (item->getValue<std::string>("type") != "function_call") continue;
                if (item->getValue<std::string>("name") == "transfer") {
                    TestHttpClient rest("127.0.0.1", simulatorPort_,
                                        simulatorTls_ ? TestCertificates::shared().caFile() : "");
                    rest.request("POST", "/v1/realtime/calls/" + callId + "/refer",
                                 R"({"target_uri":"tel:+14155550123"})", {{"Authorization", "Bearer sk-test"}});
                }
                client.sendOutput(item->getValue<std::string>("call_id"), R"({"slot":"Tuesday 9am"})");
                ran = true;
            }
            if (ran) client.sendResponseCreate();
        }
    } catch (const std::exception&) {
    }
}

} // namespace sideband::testing
