#include "SidebandTestClient.h"

#include "core/Json.h"

#include <Poco/Buffer.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>

#include <sys/socket.h>

namespace sideband::testing {
namespace {

std::unique_ptr<Poco::Net::HTTPClientSession> makeSession(unsigned short port, const std::string& caFile) {
    if (caFile.empty()) return std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    Poco::Net::initializeSSL();
    Poco::Net::Context::Params params;
    params.caLocation = caFile;
    params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    return std::make_unique<Poco::Net::HTTPSClientSession>("127.0.0.1", port, context);
}

std::unique_ptr<Poco::Net::WebSocket> connect(unsigned short port, const std::string& callId, const std::string& caFile,
                                              const std::string& apiKey, Poco::Net::HTTPResponse& response) {
    auto session = makeSession(port, caFile);
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, "/v1/realtime?call_id=" + callId,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    if (!apiKey.empty()) request.set("Authorization", "Bearer " + apiKey);
    return std::make_unique<Poco::Net::WebSocket>(*session, request, response);
}

} // namespace

SidebandTestClient::SidebandTestClient(unsigned short port, const std::string& callId, const std::string& caFile,
                                       const std::string& apiKey) {
    Poco::Net::HTTPResponse response;
    socket_ = connect(port, callId, caFile, apiKey, response);
}

int tryConnect(unsigned short port, const std::string& callId, const std::string& caFile, const std::string& apiKey) {
    Poco::Net::HTTPResponse response;
    try {
        auto socket = connect(port, callId, caFile, apiKey, response);
        socket->close();
        return 101;
    } catch (const Poco::Net::WebSocketException&) {
        return response.getStatus();
    }
}

void SidebandTestClient::send(const std::string& json) {
    socket_->sendFrame(json.data(), static_cast<int>(json.size()), Poco::Net::WebSocket::FRAME_TEXT);
}

SidebandTestClient::Frame SidebandTestClient::receiveFrame(std::chrono::milliseconds timeout) {
    Frame frame;
    socket_->setReceiveTimeout(Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count()));
    Poco::Buffer<char> buffer(0);
    int flags = 0;
    try {
        const int n = socket_->receiveFrame(buffer, flags);
        if (n == 0 && flags == 0) {
            frame.closed = true;
            return frame;
        }
        frame.opcode = flags & Poco::Net::WebSocket::FRAME_OP_BITMASK;
        frame.payload.assign(buffer.begin(), buffer.size());
    } catch (const Poco::TimeoutException&) {
    } catch (const Poco::Exception&) {
        frame.closed = true; // reset, TLS EOF without close_notify, ...
    }
    return frame;
}

Poco::JSON::Object::Ptr SidebandTestClient::receiveEvent(std::chrono::milliseconds timeout) {
    const auto frame = receiveFrame(timeout);
    if (frame.opcode != Poco::Net::WebSocket::FRAME_OP_TEXT) return nullptr;
    Poco::JSON::Parser parser;
    return parser.parse(frame.payload).extract<Poco::JSON::Object::Ptr>();
}

Poco::JSON::Object::Ptr SidebandTestClient::receiveUntil(const std::string& type, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        auto event = receiveEvent(std::max(left, std::chrono::milliseconds(1)));
        if (!event) return nullptr;
        if (event->getValue<std::string>("type") == type) return event;
    }
    return nullptr;
}

void SidebandTestClient::sendFunctionOutput(const std::string& callId, const std::string& output) {
    sendOutput(callId, output);
    sendResponseCreate();
}

void SidebandTestClient::sendOutput(const std::string& callId, const std::string& output) {
    auto item = json::object();
    item->set("type", "function_call_output");
    item->set("call_id", callId);
    item->set("output", output);
    auto event = json::object();
    event->set("type", "conversation.item.create");
    event->set("item", item);
    send(json::stringify(event));
}

void SidebandTestClient::sendResponseCreate(const std::optional<std::string>& instructions) {
    if (!instructions) {
        send(R"({"type":"response.create"})");
        return;
    }
    auto response = json::object();
    response->set("instructions", *instructions);
    auto event = json::object();
    event->set("type", "response.create");
    event->set("response", response);
    send(json::stringify(event));
}

std::vector<std::string> SidebandTestClient::answerResponse(const std::string& output,
                                                            std::chrono::milliseconds timeout,
                                                            Poco::JSON::Object::Ptr* done) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<std::string> callIds;
    Poco::JSON::Object::Ptr response;
    while (callIds.empty()) { // a spoken response's response.done (no function call) is skipped
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        const auto event = receiveUntil("response.done", std::max(left, std::chrono::milliseconds(1)));
        if (done) *done = event;
        if (!event) return callIds;
        response = event->getObject("response");
        const auto items = response ? response->getArray("output") : nullptr;
        for (std::size_t i = 0; items && i < items->size(); ++i) {
            const auto item = items->getObject(i);
            if (item && item->getValue<std::string>("type") == "function_call")
                callIds.push_back(item->getValue<std::string>("call_id"));
        }
    }
    if (response->getValue<std::string>("status") != "completed") return {}; // cancelled: run nothing
    for (const auto& callId : callIds)
        sendOutput(callId, output);
    sendResponseCreate();
    return callIds;
}

void SidebandTestClient::ping(const std::string& payload) {
    socket_->sendFrame(payload.data(), static_cast<int>(payload.size()),
                       Poco::Net::WebSocket::FRAME_FLAG_FIN | Poco::Net::WebSocket::FRAME_OP_PING);
}

void SidebandTestClient::pong(const std::string& payload) {
    socket_->sendFrame(payload.data(), static_cast<int>(payload.size()),
                       Poco::Net::WebSocket::FRAME_FLAG_FIN | Poco::Net::WebSocket::FRAME_OP_PONG);
}

void SidebandTestClient::close() {
    socket_->shutdown(Poco::Net::WebSocket::WS_NORMAL_CLOSE, "bye");
}

void SidebandTestClient::drop() {
    ::shutdown(socket_->impl()->sockfd(), SHUT_RDWR);
    socket_->close();
}

} // namespace sideband::testing
