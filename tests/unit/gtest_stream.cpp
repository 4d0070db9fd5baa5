// io::Stream over a real loopback connection: what a closing stream does with the peer's FIN.
#include "io/EventLoop.h"
#include "io/Stream.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <gtest/gtest.h>

#include <future>

using namespace sideband;
using namespace std::chrono_literals;

namespace {

class RecordingHandler : public io::StreamHandler {
public:
    void onData(io::Stream&, std::string& inbox) override { inbox.clear(); }
    void onClosed(io::Stream&, const std::string& reason) override { closed.set_value(reason); }
    std::promise<std::string> closed;
};

// A served connection: the stream on `loop` and the client's end of the socket.
struct Connected {
    std::shared_ptr<io::Stream> stream;
    Poco::Net::StreamSocket client;
};

Connected connect(io::EventLoop& loop, io::StreamHandler& handler) {
    Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0));
    Connected connected;
    connected.client.connect(Poco::Net::SocketAddress("127.0.0.1", listener.address().port()));
    auto accepted = listener.acceptConnection();
    std::promise<void> opened;
    loop.post([&] {
        connected.stream = io::Stream::create(loop, accepted, io::Stream::Tls::None, nullptr, handler);
        connected.stream->open();
        opened.set_value();
    });
    opened.get_future().wait();
    return connected;
}

} // namespace

TEST(Stream, AClosingStreamEndsOnThePeersFinNotOnItsLingerTimer) {
    io::EventLoop loop("test");
    loop.start();
    RecordingHandler handler;
    auto connected = connect(loop, handler);
    loop.post([&] {
        connected.stream->write("bye");
        connected.stream->closeAfterWrite();
    });
    char buffer[8] = {};
    connected.client.setReceiveTimeout(Poco::Timespan(10, 0));
    EXPECT_EQ(connected.client.receiveBytes(buffer, sizeof buffer), 3);
    EXPECT_EQ(connected.client.receiveBytes(buffer, sizeof buffer), 0) << "our FIN follows the last byte";
    connected.client.close(); // the peer's FIN: the stream must read it while it lingers
    auto closed = handler.closed.get_future();
    ASSERT_EQ(closed.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(closed.get(), "closed");
    loop.stop();
}

TEST(Stream, AClosingStreamWhosePeerNeverClosesEndsOnItsLingerTimer) {
    io::EventLoop loop("test");
    loop.start();
    RecordingHandler handler;
    auto connected = connect(loop, handler);
    loop.post([&] { connected.stream->closeAfterWrite(); });
    auto closed = handler.closed.get_future();
    ASSERT_EQ(closed.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(closed.get(), "linger_timeout");
    loop.stop();
}

