#pragma once

#include "io/Stream.h"

#include <functional>
#include <memory>
#include <string>

#include <sys/types.h>

struct wslay_event_context;
struct wslay_event_on_msg_recv_arg;
struct wslay_event_on_frame_recv_start_arg;

namespace sideband::websocket {

// A client WebSocket on an event loop: RFC 6455 framing by wslay (fragments reassembled, pings
// answered, close handshake) over an io::Stream the loop owns. Every method runs on the stream's
// loop. Messages are handed over whole; nothing here blocks.
//
// A sideband socket is idle most of a call (the audio goes over SIP, not here), and wslay's two
// contexts carry 8.6 KB of fixed buffers together: a quarter of what a held call cost. So between
// whole messages, with nothing queued to send and no close under way, the channel frees them, and
// makes new ones when the next byte arrives or a message is sent. Nothing is lost: at that point
// every byte handed to wslay has been framed (counted from its frame callbacks), so its state is
// that of a fresh context. Making and freeing them costs about 0.4 us, far less than parsing the
// event that woke the channel.
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
    // Whether wslay's contexts are allocated now (not between messages of an idle channel).
    bool holdsFramingState() const { return ctx_ != nullptr; }
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
    static void onFrameStart(wslay_event_context* ctx, const wslay_event_on_frame_recv_start_arg* arg, void* self);
    static void onFrameEnd(wslay_event_context* ctx, void* self);
    wslay_event_context* context(); // ctx_, made anew if an idle channel had freed it
    void freeContextIfIdle();
    void pump(); // runs wslay's reader and writer over the stream and ends the channel when wslay is done
    void finish(const std::string& reason);

    io::EventLoop& loop_;
    Callbacks callbacks_;
    std::shared_ptr<io::Stream> stream_;
    wslay_event_context* ctx_ = nullptr;
    // Since ctx_ was made: bytes wslay has read, and bytes of the frames it has read whole.
    std::uint64_t bytesRead_ = 0;
    std::uint64_t bytesFramed_ = 0;
    std::uint64_t frameBytes_ = 0;   // header and payload of the frame being read
    bool messageUnfinished_ = false; // a data frame without FIN came: its continuation is due
    int pumping_ = 0;                // pump() calls under way (one inside another through a callback)
    bool receiving_ = false;         // inside wslay_event_recv
    std::string* inbox_ = nullptr;   // during onData
    bool finished_ = false;
    bool closing_ = false;
    std::string closeReason_;
    std::shared_ptr<WebSocketChannel> self_; // alive while its stream is open
};

} // namespace sideband::websocket
