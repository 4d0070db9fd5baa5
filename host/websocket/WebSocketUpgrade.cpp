#include "websocket/WebSocketUpgrade.h"

#include <Poco/Base64Encoder.h>
#include <Poco/Net/NetException.h>
#include <Poco/SHA1Engine.h>

#include <http_parser.h>
#include <openssl/rand.h>

#include <sstream>

namespace sideband::websocket {
namespace {

constexpr std::size_t kMaxAnswerHead = 16 * 1024;

std::string base64(const unsigned char* data, std::size_t size) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);
    encoder.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    encoder.close();
    return out.str();
}

// RFC 6455 4.2.2: base64(SHA-1(key + GUID)).
std::string expectedAccept(const std::string& key) {
    Poco::SHA1Engine sha1;
    sha1.update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    const auto& digest = sha1.digest();
    return base64(digest.data(), digest.size());
}

struct Answer {
    int status = 0;
    std::string field;
    std::string accept;
    bool complete = false;
    bool inAccept = false;
};

int onStatus(http_parser* parser, const char*, std::size_t) {
    static_cast<Answer*>(parser->data)->status = static_cast<int>(parser->status_code);
    return 0;
}
int onHeaderField(http_parser* parser, const char* at, std::size_t length) {
    auto& answer = *static_cast<Answer*>(parser->data);
    std::string name(at, length);
    for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    answer.inAccept = name == "sec-websocket-accept";
    return 0;
}
int onHeaderValue(http_parser* parser, const char* at, std::size_t length) {
    auto& answer = *static_cast<Answer*>(parser->data);
    if (answer.inAccept) answer.accept.append(at, length);
    return 0;
}
int onHeadersComplete(http_parser* parser) {
    auto& answer = *static_cast<Answer*>(parser->data);
    answer.status = static_cast<int>(parser->status_code);
    answer.complete = true;
    // No body: on a 101 the parser stops right after the head (what follows is WebSocket frames)
    // and counts exactly the head's bytes as consumed.
    return 1;
}

} // namespace

UpgradedSocket upgrade(const UpgradeRequest& request) {
    const auto started = std::chrono::steady_clock::now();
    const auto left = [&] {
        const auto remaining = request.timeout - (std::chrono::steady_clock::now() - started);
        if (remaining <= std::chrono::milliseconds(0)) throw Poco::TimeoutException("websocket connect deadline");
        return Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(remaining).count());
    };

    UpgradedSocket result;
    const Poco::Net::SocketAddress address(request.uri.getHost(), request.uri.getPort());
    result.tcp.connect(address, left());
    result.tcp.setNoDelay(true);
    result.tcp.setReceiveTimeout(left());
    result.tcp.setSendTimeout(left());
    Poco::Net::StreamSocket* io = &result.tcp;
    if (request.uri.getScheme() == "wss") {
        // Blocking handshake with host-name verification (Poco verifies on a blocking connect).
        result.tls = std::make_unique<Poco::Net::SecureStreamSocket>(
            Poco::Net::SecureStreamSocket::attach(result.tcp, request.uri.getHost(), request.context, request.session));
        io = result.tls.get();
    }

    unsigned char nonce[16];
    RAND_bytes(nonce, sizeof nonce);
    const auto key = base64(nonce, sizeof nonce);
    std::string head = "GET " + request.uri.getPathAndQuery() + " HTTP/1.1\r\nHost: " + request.uri.getHost() + ":" +
                       std::to_string(request.uri.getPort()) +
                       "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: " +
                       key + "\r\n";
    for (const auto& [name, value] : request.headers)
        head += name + ": " + value + "\r\n";
    head += "\r\n";
    io->sendBytes(head.data(), static_cast<int>(head.size()));

    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    Answer answer;
    parser.data = &answer;
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_status = onStatus;
    settings.on_header_field = onHeaderField;
    settings.on_header_value = onHeaderValue;
    settings.on_headers_complete = onHeadersComplete;

    std::string received;
    std::size_t parsed = 0;
    char buffer[4096];
    while (!answer.complete) {
        result.tcp.setReceiveTimeout(left());
        const int n = io->receiveBytes(buffer, sizeof buffer);
        if (n <= 0) throw Poco::Net::ConnectionResetException("websocket upgrade: connection closed");
        received.append(buffer, static_cast<std::size_t>(n));
        parsed += http_parser_execute(&parser, &settings, received.data() + parsed, received.size() - parsed);
        if (!answer.complete && HTTP_PARSER_ERRNO(&parser) != HPE_OK)
            throw UpgradeRefused(std::string("websocket upgrade: malformed answer: ") +
                                 http_errno_description(HTTP_PARSER_ERRNO(&parser)));
        if (received.size() > kMaxAnswerHead) throw UpgradeRefused("websocket upgrade: answer head too large");
    }
    if (answer.status != 101) throw UpgradeRefused("websocket upgrade refused: HTTP " + std::to_string(answer.status));
    if (answer.accept != expectedAccept(key)) throw UpgradeRefused("websocket upgrade: wrong Sec-WebSocket-Accept");
    result.leftover = received.substr(parsed);
    return result;
}

} // namespace sideband::websocket
