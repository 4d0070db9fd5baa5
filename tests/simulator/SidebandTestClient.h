#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/Net/WebSocket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sideband::testing {

// The host's end of a sideband WebSocket, minimal: connects to the simulator (HTTPS verified
// against `caFile`, or plain HTTP when it is empty), sends and receives JSON events.
class SidebandTestClient {
public:
    struct Frame {
        int opcode = -1; // -1: timeout; 0 with empty payload and closed: TCP closed without a close frame
        std::string payload;
        bool closed = false; // the connection ended (EOF, reset or TLS error) without a CLOSE frame
    };

    // Throws Poco::Net::WebSocketException (refused upgrade) with `status` set when it can.
    SidebandTestClient(unsigned short port, const std::string& callId, const std::string& caFile,
                       const std::string& apiKey = "sk-test");

    void send(const std::string& json);
    Frame receiveFrame(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    // The next text event (skips none); nullptr on timeout/close.
    Poco::JSON::Object::Ptr receiveEvent(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    // Events until one of `type` arrives (others dropped); nullptr on timeout/close.
    Poco::JSON::Object::Ptr receiveUntil(const std::string& type,
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    // The function_call_output and, right behind it, a response.create (without waiting for the
    // response's response.done: the simulator refuses that response.create while the response is active).
    void sendFunctionOutput(const std::string& callId, const std::string& output);
    // Just the function_call_output.
    void sendOutput(const std::string& callId, const std::string& output);
    // {"type":"response.create"}, with response.instructions when `instructions` is set.
    void sendResponseCreate(const std::optional<std::string>& instructions = std::nullopt);
    // A well-behaved host: events until the response.done of a response with function calls (spoken
    // responses' are skipped); if it completed, the outputs (all `output`), then one response.create.
    // Returns the call_ids answered (none when the response was cancelled or nothing came). `done`
    // receives the last response.done event read.
    std::vector<std::string> answerResponse(const std::string& output,
                                            std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                                            Poco::JSON::Object::Ptr* done = nullptr);
    void ping(const std::string& payload); // a PING frame (Poco answers none by itself, nor does this client)
    void pong(const std::string& payload); // a PONG frame, e.g. answering the simulator's PING
    void close();                          // sends a close frame
    void drop();                           // closes TCP without a close frame
    Poco::Net::WebSocket& socket() { return *socket_; }

private:
    std::unique_ptr<Poco::Net::WebSocket> socket_;
};

// Connecting may be refused; returns the HTTP status the simulator answered (101 on success).
int tryConnect(unsigned short port, const std::string& callId, const std::string& caFile,
               const std::string& apiKey = "sk-test");

} // namespace sideband::testing
