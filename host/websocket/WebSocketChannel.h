#pragma once

#include "io/Stream.h"

#include <functional>
#include <memory>
#include <string>

#include <sys/types.h>

struct wslay_event_context;
struct wslay_event_on_msg_recv_arg;

namespace sideband::websocket {

// A client WebSocket on an event loop: RFC 6455 framing by wslay (fragments reassembled, pings
// answered, close handshake) over an io::Stream the loop owns. Every method runs on the stream's
// loop. Messages are handed over whole; nothing here blocks.
class WebSocketChannel final : public io::StreamHandler, public std::enable_shared_from_this<WebSocketChannel> {
public:
    struct Callbacks {
        std::function<void(std::string text)> onText;
        std::function<void()> onHeard; // any bytes at all (pongs included): the peer is alive
        // Exactly once. `reason`: "closed" (close handshake), "disconnected" (no close frame),
        // "protocol_error", or what abort() was given.
        std::function<void(const std::string& reason, int closeCode)> onClosed;
    };

    static constexpr std::size_t kMaxMessageBytes = 4 * 1024 * 1024;
    // Queued output beyond this means the peer stopped reading: the channel is ended.
    static constexpr std::size_t kMaxQueuedBytes = 16 * 1024 * 1024;

    WebSocketChannel(io::EventLoop& loop, Callbacks callbacks);
    ~WebSocketChannel() override;

    // Takes an upgraded socket; `leftover` are bytes that came with the upgrade's answer.
    void open(std::shared_ptr<io::Stream> stream, std::string leftover);
    bool sendText(const std::string& text);
    void ping();
    // Sends a close frame and closes once it is written.
    void close(int code, const std::string& reason);
    void abort(const std::string& reason);
    bool isOpen() const { return stream_ && stream_->isOpen(); }
    io::EventLoop& loop() { return loop_; }

    void onData(io::Stream& stream, std::string& inbox) override;
    void onDrained(io::Stream&) override {}
    bool onPeerFinished(io::Stream& stream) override;
    void onClosed(io::Stream& stream, const std::string& reason) override;

private:
    static ssize_t onRecv(wslay_event_context* ctx, std::uint8_t* buffer, std::size_t length, int flags, void* self);
    static ssize_t onSend(wslay_event_context* ctx, const std::uint8_t* data, std::size_t length, int flags,
                          void* self);
    static int onGenmask(wslay_event_context* ctx, std::uint8_t* buffer, std::size_t length, void* self);
    static void onMessage(wslay_event_context* ctx, const wslay_event_on_msg_recv_arg* arg, void* self);
    void pump(); // runs wslay's reader and writer over the stream and ends the channel when wslay is done
    void finish(const std::string& reason);

    io::EventLoop& loop_;
    Callbacks callbacks_;
    std::shared_ptr<io::Stream> stream_;
    wslay_event_context* ctx_ = nullptr;
    std::string* inbox_ = nullptr; // during onData
    bool finished_ = false;
    bool closing_ = false;
    std::string closeReason_;
    std::shared_ptr<WebSocketChannel> self_; // alive while its stream is open
};

} // namespace sideband::websocket
