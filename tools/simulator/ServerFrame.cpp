#include "ServerFrame.h"

#include <cstdint>

namespace sideband::simulator {
namespace {

constexpr unsigned char kFinBit = 0x80;
constexpr unsigned char kOpcodeBits = 0x0f;
constexpr std::size_t kLongest7BitLength = 125;
constexpr unsigned char k16BitLengthFollows = 126;
constexpr unsigned char k64BitLengthFollows = 127;

void appendBigEndian(std::string& out, std::uint64_t value, int bytes) {
    for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((value >> shift) & 0xff));
}

} // namespace

std::string encodeServerFrame(int opcode, const std::string& payload) {
    std::string frame;
    frame.reserve(payload.size() + 10);
    frame.push_back(static_cast<char>(kFinBit | (static_cast<unsigned>(opcode) & kOpcodeBits)));
    // The mask bit (0x80 of the second byte) stays clear: only clients mask (RFC 6455 §5.1).
    if (payload.size() <= kLongest7BitLength) {
        frame.push_back(static_cast<char>(payload.size()));
    } else if (payload.size() <= 0xffff) {
        frame.push_back(static_cast<char>(k16BitLengthFollows));
        appendBigEndian(frame, payload.size(), 2);
    } else {
        frame.push_back(static_cast<char>(k64BitLengthFollows));
        appendBigEndian(frame, payload.size(), 8);
    }
    frame += payload;
    return frame;
}

std::string closeFramePayload(int statusCode, const std::string& reason) {
    std::string payload;
    appendBigEndian(payload, static_cast<std::uint64_t>(statusCode), 2);
    return payload + reason;
}

} // namespace sideband::simulator
