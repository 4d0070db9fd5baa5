#include "websocket/WebSocketChannel.h"

#include "core/ScopedValue.h"

#include <openssl/rand.h>
#include <wslay/wslay.h>

#include <cstring>
#include <new>

namespace sideband::websocket {

WebSocketChannel::WebSocketChannel(io::EventLoop& loop, Callbacks callbacks)
    : loop_(loop), callbacks_(std::move(callbacks)) {}

WebSocketChannel::~WebSocketChannel() {
    if (ctx_) wslay_event_context_free(ctx_);
}

wslay_event_context* WebSocketChannel::context() {
    if (!ctx_) {
        static const wslay_event_callbacks kCallbacks = {&WebSocketChannel::onRecv,
                                                         &WebSocketChannel::onSend,
                                                         &WebSocketChannel::onGenmask,
                                                         &WebSocketChannel::onFrameStart,
                                                         nullptr,
                                                         &WebSocketChannel::onFrameEnd,
                                                         &WebSocketChannel::onMessage};
        wslay_event_context* made = nullptr; // wslay frees, but does not clear, what a failed init made
        if (wslay_event_context_client_init(&made, &kCallbacks, this) != 0) throw std::bad_alloc();
        ctx_ = made;
        wslay_event_config_set_max_recv_msg_length(ctx_, kMaxMessageBytes);
        bytesRead_ = bytesFramed_ = frameBytes_ = 0;
        messageUnfinished_ = false;
    }
    return ctx_;
}

void WebSocketChannel::freeContextIfIdle() {
    if (!ctx_ || finished_ || closing_ || pumping_ > 1) return;
    const bool idle = bytesRead_ == bytesFramed_ && !messageUnfinished_ && !wslay_event_want_write(ctx_) &&
                      wslay_event_get_queued_msg_count(ctx_) == 0 && !wslay_event_get_close_sent(ctx_) &&
                      !wslay_event_get_close_received(ctx_) && wslay_event_get_read_enabled(ctx_) &&
                      wslay_event_get_write_enabled(ctx_);
    if (!idle) return;
    wslay_event_context_free(ctx_);
    ctx_ = nullptr;
}

void WebSocketChannel::onFrameStart(wslay_event_context*, const wslay_event_on_frame_recv_start_arg* arg, void* user) {
    auto& self = *static_cast<WebSocketChannel*>(user);
    // A server's frames are unmasked and wslay refuses a length not in its shortest form, so the
    // header is 2 bytes plus 2 or 8 of extended length.
    const std::uint64_t header = arg->payload_length < 126 ? 2 : arg->payload_length < 65536 ? 4 : 10;
    self.frameBytes_ = header + arg->payload_length;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME || arg->opcode == WSLAY_CONTINUATION_FRAME)
        self.messageUnfinished_ = !arg->fin;
}

void WebSocketChannel::onFrameEnd(wslay_event_context*, void* user) {
    auto& self = *static_cast<WebSocketChannel*>(user);
    self.bytesFramed_ += self.frameBytes_;
    self.frameBytes_ = 0;
}

void WebSocketChannel::open(std::shared_ptr<io::Stream> stream, std::string leftover) {
    loop_.assertInLoop();
    stream_ = std::move(stream);
    self_ = shared_from_this();
    stream_->inbox() = std::move(leftover);
    stream_->open(); // reads what else has arrived: onData then has the leftover too
    // Frames that came with the upgrade's answer and nothing after them: Stream::open() calls
    // onData only for bytes it reads itself, so they would wait for the peer's next bytes. (A FIN
    // read by open() is onPeerFinished's.) Found by tests/fuzz/fuzz_websocket_frames.
    if (!finished_ && stream_->isOpen() && !stream_->inbox().empty()) onData(*stream_, stream_->inbox());
}

bool WebSocketChannel::onPeerFinished(io::Stream& stream) {
    auto keep = shared_from_this();
    // The peer's FIN came with nothing new to read: what is still in the inbox (the upgrade's
    // leftover, when the FIN was read by open()) is the peer's last word, a close frame maybe.
    if (!finished_ && !stream.inbox().empty()) onData(stream, stream.inbox());
    return false; // the stream closes: "disconnected" unless a close frame came first
}

ssize_t WebSocketChannel::onRecv(wslay_event_context* ctx, std::uint8_t* buffer, std::size_t length, int, void* user) {
    auto& self = *static_cast<WebSocketChannel*>(user);
    if (!self.inbox_ || self.inbox_->empty()) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    const auto n = std::min(length, self.inbox_->size());
    std::memcpy(buffer, self.inbox_->data(), n);
    self.inbox_->erase(0, n);
    self.bytesRead_ += n;
    return static_cast<ssize_t>(n);
}

ssize_t WebSocketChannel::onSend(wslay_event_context*, const std::uint8_t* data, std::size_t length, int, void* user) {
    // The stream takes every byte (its outbox); its loop writes them when the socket can.
    static_cast<WebSocketChannel*>(user)->stream_->write(std::string_view(reinterpret_cast<const char*>(data), length));
    return static_cast<ssize_t>(length);
}

int WebSocketChannel::onGenmask(wslay_event_context*, std::uint8_t* buffer, std::size_t length, void*) {
    return RAND_bytes(buffer, static_cast<int>(length)) == 1 ? 0 : -1;
}

void WebSocketChannel::onMessage(wslay_event_context*, const wslay_event_on_msg_recv_arg* arg, void* user) {
    auto& self = *static_cast<WebSocketChannel*>(user);
    if (arg->opcode == WSLAY_TEXT_FRAME && self.callbacks_.onText)
        self.callbacks_.onText(std::string(reinterpret_cast<const char*>(arg->msg), arg->msg_length));
    // Pings are answered by wslay; a close frame is answered by wslay too, and pump() then ends us.
}

void WebSocketChannel::onData(io::Stream&, std::string& inbox) {
    // Any byte is a sign of life: a peer trickling a large frame over a slow link is not dead.
    if (callbacks_.onHeard) callbacks_.onHeard();
    // Reached again from inside a pump (a write that found the peer gone reads its last bytes), the
    // outer pump must go on reading the same inbox afterwards.
    const ScopedValue<std::string*> reading(inbox_, &inbox);
    pump();
}

void WebSocketChannel::pump() {
    auto keep = shared_from_this();
    if (finished_) return;
    // A callback of wslay's (onText) may send, which pumps again inside wslay's own call: only the
    // outermost pump may free the context, and wslay's reader must not run inside itself (it hands
    // over a message before resetting its state for the next frame); the outer read goes on with
    // whatever the inbox holds.
    const ScopedValue<int> depth(pumping_, pumping_ + 1);
    if (!receiving_ && inbox_ && !inbox_->empty() && wslay_event_want_read(context())) {
        int read = 0;
        {
            const ScopedValue<bool> inside(receiving_, true);
            read = wslay_event_recv(ctx_);
        }
        if (read != 0) return abort("protocol_error");
    }
    if (!ctx_) return; // idle: nothing read, nothing queued
    if (finished_) return;
    if (wslay_event_want_write(ctx_) && wslay_event_send(ctx_) != 0) return abort("protocol_error");
    if (wslay_event_get_close_received(ctx_)) {
        // The peer said goodbye and wslay has queued (and now written) ours: done once it is out.
        finished_ = true;
        callbacks_.onClosed(closeReason_.empty() ? "closed" : closeReason_, wslay_event_get_status_code_received(ctx_));
        stream_->closeAfterWrite();
        return;
    }
    if (!wslay_event_want_read(ctx_)) {
        // wslay refused what it read (an oversized message, a bad frame) and queued a close saying why.
        finished_ = true;
        callbacks_.onClosed("protocol_error", 0);
        stream_->closeAfterWrite();
        return;
    }
    if (stream_->outboxSize() > kMaxQueuedBytes) return abort("send_overflow");
    freeContextIfIdle();
}

bool WebSocketChannel::sendText(const std::string& text) {
    loop_.assertInLoop();
    if (!stream_ || finished_ || closing_) return false;
    wslay_event_msg message{WSLAY_TEXT_FRAME, reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
    if (wslay_event_queue_msg(context(), &message) != 0) return false;
    pump();
    return true;
}

void WebSocketChannel::ping() {
    loop_.assertInLoop();
    if (!stream_ || finished_ || closing_) return;
    wslay_event_msg message{WSLAY_PING, nullptr, 0};
    wslay_event_queue_msg(context(), &message);
    pump();
}

void WebSocketChannel::close(int code, const std::string& reason) {
    loop_.assertInLoop();
    if (!stream_ || finished_ || closing_) return;
    closing_ = true;
    closeReason_ = reason;
    const auto text = reason.substr(0, 123); // a close frame's payload is at most 125 bytes
    wslay_event_queue_close(context(), static_cast<std::uint16_t>(code),
                            reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    wslay_event_send(ctx_);
    // We do not wait for the peer's answering close: the call is over for us either way.
    finished_ = true;
    callbacks_.onClosed(reason, code);
    stream_->closeAfterWrite();
}

void WebSocketChannel::abort(const std::string& reason) {
    loop_.assertInLoop();
    if (!stream_) return;
    if (!finished_) {
        finished_ = true;
        callbacks_.onClosed(reason, 0);
    }
    stream_->abort(reason);
}

void WebSocketChannel::onClosed(io::Stream&, const std::string& reason) {
    auto keep = shared_from_this();
    if (!finished_) {
        finished_ = true;
        // The socket ended without a close frame: OpenAI does this when the caller hangs up.
        callbacks_.onClosed(reason == "eof" || reason == "reset" || reason == "closed" ? "disconnected" : reason, 0);
    }
    self_.reset();
}

} // namespace sideband::websocket
