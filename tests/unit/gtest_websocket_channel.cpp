// websocket::WebSocketChannel over a real loopback connection: frames that came with the upgrade's
// answer (the leftover) are delivered at once, even when nothing or only a FIN follows them (found
// by tests/fuzz/fuzz_websocket_frames: they waited for the peer's next bytes, or were lost).
#include "io/EventLoop.h"
#include "io/Stream.h"
#include "websocket/WebSocketChannel.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace sideband;
using namespace std::chrono_literals;

namespace {

// An unmasked text frame, as a server sends it.
std::string textFrame(const std::string& text) {
    std::string frame{static_cast<char>(0x81), static_cast<char>(text.size())};
    return frame + text;
}

class Recorder {
public:
    websocket::WebSocketChannel::Callbacks callbacks() {
        websocket::WebSocketChannel::Callbacks callbacks;
        callbacks.onText = [this](std::string text) {
            std::lock_guard lock(mutex_);
            texts_.push_back(std::move(text));
        };
        callbacks.onClosed = [this](const std::string& reason, int) { closed_.set_value(reason); };
        return callbacks;
    }
    std::vector<std::string> texts() {
        std::lock_guard lock(mutex_);
        return texts_;
    }
    std::future<std::string> closed() { return closed_.get_future(); }

private:
    std::mutex mutex_;
    std::vector<std::string> texts_;
    std::promise<std::string> closed_;
};

class WebSocketChannelTest : public ::testing::Test {
protected:
    WebSocketChannelTest() : loop_("test") { loop_.start(); }
    ~WebSocketChannelTest() override {
        loop_.post([this] {
            if (channel_) channel_->abort("done");
        });
        loop_.stop();
    }

    // The server's end is `peer_`; the channel opens on the loop with `leftover`.
    void open(const std::string& leftover, bool finFirst) {
        Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0));
        Poco::Net::StreamSocket client;
        client.connect(Poco::Net::SocketAddress("127.0.0.1", listener.address().port()));
        peer_ = listener.acceptConnection();
        if (finFirst) peer_.shutdownSend(); // the FIN is in before the channel reads anything
        std::promise<void> opened;
        loop_.post([&] {
            channel_ = std::make_shared<websocket::WebSocketChannel>(loop_, recorder_.callbacks());
            channel_->open(io::Stream::create(loop_, client, io::Stream::Tls::None, nullptr, *channel_), leftover);
            opened.set_value();
        });
        opened.get_future().wait();
    }

    io::EventLoop loop_;
    Recorder recorder_;
    Poco::Net::StreamSocket peer_;
    std::shared_ptr<websocket::WebSocketChannel> channel_;
};

} // namespace

TEST_F(WebSocketChannelTest, FramesThatCameWithTheUpgradeAreDeliveredWithoutWaitingForMore) {
    auto closed = recorder_.closed();
    open(textFrame(R"({"type":"session.created"})") + textFrame(R"({"type":"session.updated"})"), false);
    std::vector<std::string> texts;
    for (int i = 0; i < 200 && texts.size() < 2; ++i) {
        std::this_thread::sleep_for(10ms);
        texts = recorder_.texts();
    }
    EXPECT_EQ(texts, (std::vector<std::string>{R"({"type":"session.created"})", R"({"type":"session.updated"})"}));
    EXPECT_EQ(closed.wait_for(0ms), std::future_status::timeout) << "the channel stays open";
}

TEST_F(WebSocketChannelTest, FramesThatCameWithTheUpgradeAreDeliveredBeforeAFinThatFollowsThem) {
    auto closed = recorder_.closed();
    open(textFrame(R"({"type":"session.created"})"), true);
    ASSERT_EQ(closed.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(closed.get(), "disconnected");
    EXPECT_EQ(recorder_.texts(), std::vector<std::string>{R"({"type":"session.created"})"});
}

TEST_F(WebSocketChannelTest, ACloseFrameThatCameWithTheUpgradeClosesTheChannel) {
    auto closed = recorder_.closed();
    std::string close{static_cast<char>(0x88), 2, static_cast<char>(0x03), static_cast<char>(0xE8)}; // 1000
    open(close, true);
    ASSERT_EQ(closed.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(closed.get(), "closed");
}
