// websocket::WebSocketChannel over a real loopback connection: frames that came with the upgrade's
// answer (the leftover) are delivered at once, even when nothing or only a FIN follows them (found
// by tests/fuzz/fuzz_websocket_frames: they waited for the peer's next bytes, or were lost).
#include "io/EventLoop.h"
#include "io/Stream.h"
#include "websocket/WebSocketChannel.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace sideband;
using namespace std::chrono_literals;

namespace {

// An unmasked frame, as a server sends it.
std::string frame(unsigned char firstByte, const std::string& payload) {
    std::string bytes{static_cast<char>(firstByte)};
    const std::uint64_t size = payload.size();
    const int lengthBytes = size < 126 ? 0 : size < 65536 ? 2 : 8;
    bytes += static_cast<char>(size < 126 ? size : size < 65536 ? 126 : 127);
    for (int i = lengthBytes - 1; i >= 0; --i)
        bytes += static_cast<char>((size >> (8 * i)) & 0xFF);
    return bytes + payload;
}
std::string textFrame(const std::string& text) {
    return frame(0x81, text);
}

class Recorder {
public:
    websocket::WebSocketChannel::Callbacks callbacks() {
        websocket::WebSocketChannel::Callbacks callbacks;
        callbacks.onText = [this](std::string text) {
            {
                std::lock_guard lock(mutex_);
                texts_.push_back(std::move(text));
            }
            if (insideOnText) insideOnText();
        };
        callbacks.onClosed = [this](const std::string& reason, int) { closed_.set_value(reason); };
        return callbacks;
    }
    std::vector<std::string> texts() {
        std::lock_guard lock(mutex_);
        return texts_;
    }
    std::future<std::string> closed() { return closed_.get_future(); }
    std::function<void()> insideOnText; // runs on the loop, inside the channel's read

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

    // Runs `fn` on the loop and waits for it.
    template <typename Fn> auto onLoop(Fn fn) {
        std::promise<decltype(fn())> result;
        loop_.post([&] { result.set_value(fn()); });
        return result.get_future().get();
    }
    bool holdsFramingState() {
        return onLoop([this] { return channel_->holdsFramingState(); });
    }
    // Waits until the channel has delivered `count` texts.
    std::vector<std::string> textsWhenThereAre(std::size_t count) {
        std::vector<std::string> texts;
        for (int i = 0; i < 500 && texts.size() < count; ++i) {
            std::this_thread::sleep_for(10ms);
            texts = recorder_.texts();
        }
        return texts;
    }
    // Waits until the loop has read what the peer sent (the channel then holds wslay's contexts).
    bool heldWithin(std::chrono::milliseconds limit) {
        for (auto waited = 0ms; waited < limit; waited += 10ms) {
            if (holdsFramingState()) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
    // Reads one frame the channel sent: {first byte, unmasked payload}.
    std::pair<unsigned char, std::string> readClientFrame() {
        peer_.setReceiveTimeout(Poco::Timespan(5, 0));
        unsigned char head[2];
        readExactly(head, 2);
        EXPECT_TRUE(head[1] & 0x80) << "a client's frames are masked";
        std::size_t length = head[1] & 0x7F;
        EXPECT_LT(length, 126u);
        unsigned char mask[4];
        readExactly(mask, 4);
        std::string payload(length, '\0');
        readExactly(reinterpret_cast<unsigned char*>(payload.data()), length);
        for (std::size_t i = 0; i < length; ++i)
            payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
        return {head[0], payload};
    }
    void readExactly(unsigned char* into, std::size_t length) {
        for (std::size_t got = 0; got < length;) {
            const int n = peer_.receiveBytes(into + got, static_cast<int>(length - got));
            ASSERT_GT(n, 0);
            got += static_cast<std::size_t>(n);
        }
    }
    void peerSends(const std::string& bytes) { peer_.sendBytes(bytes.data(), static_cast<int>(bytes.size())); }

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

// Between whole messages, with nothing to send, the channel keeps none of wslay's buffers (8.6 KB
// a call); what arrives next is read by new ones as if nothing had happened.
TEST_F(WebSocketChannelTest, AnIdleChannelFreesItsFramingStateBetweenMessages) {
    open(textFrame(R"({"type":"session.created"})"), false);
    ASSERT_EQ(textsWhenThereAre(1).size(), 1u);
    EXPECT_FALSE(holdsFramingState());
    peerSends(textFrame(R"({"type":"session.updated"})"));
    EXPECT_EQ(textsWhenThereAre(2),
              (std::vector<std::string>{R"({"type":"session.created"})", R"({"type":"session.updated"})"}));
    EXPECT_FALSE(holdsFramingState());
}

TEST_F(WebSocketChannelTest, AFrameSplitInsideItsHeaderKeepsTheFramingStateUntilItIsWhole) {
    open("", false);
    const std::string text(300, 'x'); // a 16-bit extended length
    const auto bytes = textFrame(text);
    peerSends(bytes.substr(0, 3)); // opcode, 126 and one of the two length bytes
    ASSERT_TRUE(heldWithin(5000ms));
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(holdsFramingState()) << "three bytes of a header are wslay's to keep";
    EXPECT_TRUE(recorder_.texts().empty());
    peerSends(bytes.substr(3, 100));
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(holdsFramingState()) << "so is half a payload";
    peerSends(bytes.substr(103));
    EXPECT_EQ(textsWhenThereAre(1), std::vector<std::string>{text});
    EXPECT_FALSE(holdsFramingState());
}

TEST_F(WebSocketChannelTest, AFragmentedMessageKeepsTheFramingStateBetweenItsFragments) {
    open("", false);
    peerSends(frame(0x01, "Hel")); // text, no FIN
    ASSERT_TRUE(heldWithin(5000ms));
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(holdsFramingState()) << "the message is not whole yet";
    peerSends(frame(0x89, "")); // a ping between fragments
    EXPECT_EQ(readClientFrame(), (std::pair<unsigned char, std::string>{0x8A, ""}));
    EXPECT_TRUE(holdsFramingState());
    peerSends(frame(0x80, "lo")); // continuation with FIN
    EXPECT_EQ(textsWhenThereAre(1), std::vector<std::string>{"Hello"});
    EXPECT_FALSE(holdsFramingState());
}

TEST_F(WebSocketChannelTest, APingAfterAnIdlePauseIsAnsweredWithItsPayload) {
    open(textFrame("{}"), false);
    ASSERT_EQ(textsWhenThereAre(1).size(), 1u);
    ASSERT_FALSE(holdsFramingState());
    peerSends(frame(0x89, "are you there"));
    EXPECT_EQ(readClientFrame(), (std::pair<unsigned char, std::string>{0x8A, "are you there"}));
    EXPECT_FALSE(holdsFramingState());
}

TEST_F(WebSocketChannelTest, TextsAndPingsSentAfterAnIdlePauseAreWholeMaskedFrames) {
    open(textFrame("{}"), false);
    ASSERT_EQ(textsWhenThereAre(1).size(), 1u);
    ASSERT_FALSE(holdsFramingState());
    EXPECT_TRUE(onLoop([this] { return channel_->sendText(R"({"type":"response.create"})"); }));
    EXPECT_EQ(readClientFrame(), (std::pair<unsigned char, std::string>{0x81, R"({"type":"response.create"})"}));
    onLoop([this] {
        channel_->ping();
        return 0;
    });
    EXPECT_EQ(readClientFrame(), (std::pair<unsigned char, std::string>{0x89, ""}));
    EXPECT_FALSE(holdsFramingState());
}

TEST_F(WebSocketChannelTest, ACloseAfterAnIdlePauseIsAnsweredAndClosesTheChannel) {
    auto closed = recorder_.closed();
    open(textFrame("{}"), false);
    ASSERT_EQ(textsWhenThereAre(1).size(), 1u);
    ASSERT_FALSE(holdsFramingState());
    peerSends(frame(0x88, std::string{static_cast<char>(0x03), static_cast<char>(0xE8)})); // 1000
    ASSERT_EQ(closed.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(closed.get(), "closed");
    EXPECT_EQ(readClientFrame(), (std::pair<unsigned char, std::string>{
                                     0x88, std::string{static_cast<char>(0x03), static_cast<char>(0xE8)}}));
}

TEST_F(WebSocketChannelTest, AMessageOfMoreThan64KiBIsFramedAndTheStateFreedAfterIt) {
    open("", false);
    const std::string text(70000, 'y'); // a 64-bit extended length
    peerSends(textFrame(text));
    EXPECT_EQ(textsWhenThereAre(1), std::vector<std::string>{text});
    EXPECT_FALSE(holdsFramingState());
}

TEST_F(WebSocketChannelTest, AWholeMessageFollowedByOneByteOfTheNextKeepsTheState) {
    open("", false);
    const auto next = textFrame("second");
    peerSends(textFrame("first") + next.substr(0, 1));
    ASSERT_EQ(textsWhenThereAre(1), std::vector<std::string>{"first"});
    EXPECT_TRUE(holdsFramingState()) << "one byte of the next header is wslay's";
    peerSends(next.substr(1));
    EXPECT_EQ(textsWhenThereAre(2), (std::vector<std::string>{"first", "second"}));
    EXPECT_FALSE(holdsFramingState());
}

// A handler that answers from inside onText sends while wslay is still reading: the reader must
// not be entered again (it hands a message over before it resets for the next frame), and what is
// left in the inbox is still read by the outer call.
TEST_F(WebSocketChannelTest, SendingFromInsideOnTextWhileMoreFramesWaitLosesAndCorruptsNothing) {
    recorder_.insideOnText = [this] { channel_->sendText("ack"); };
    open("", false);
    const std::string a(5000, 'a'), b(5000, 'b'); // each more than wslay reads at once (4 KiB)
    peerSends(textFrame(a) + textFrame(b));
    EXPECT_EQ(textsWhenThereAre(2), (std::vector<std::string>{a, b}));
    EXPECT_EQ(readClientFrame(), (std::pair<unsigned char, std::string>{0x81, "ack"}));
    EXPECT_EQ(readClientFrame(), (std::pair<unsigned char, std::string>{0x81, "ack"}));
    EXPECT_FALSE(holdsFramingState());
}
