#include "isolation/RunnerProtocol.h"

#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <sstream>

namespace sideband::isolation::protocol {

std::string encode(const Poco::JSON::Object& message) {
    std::ostringstream body;
    message.stringify(body);
    const std::string payload = body.str();
    if (payload.size() > kMaxFrameBytes) throw ProtocolError("frame of " + std::to_string(payload.size()) + " bytes");
    std::string frame(4, '\0');
    const auto size = static_cast<std::uint32_t>(payload.size());
    frame[0] = static_cast<char>(size >> 24);
    frame[1] = static_cast<char>(size >> 16);
    frame[2] = static_cast<char>(size >> 8);
    frame[3] = static_cast<char>(size);
    return frame + payload;
}

Poco::JSON::Object::Ptr FrameReader::next(std::string& buffer) {
    if (buffer.size() - offset_ < 4) return nullptr;
    const auto* p = reinterpret_cast<const unsigned char*>(buffer.data() + offset_);
    const std::uint32_t size =
        (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
    if (size > kMaxFrameBytes) throw ProtocolError("frame of " + std::to_string(size) + " bytes announced");
    if (buffer.size() - offset_ - 4 < size) return nullptr;
    const std::string payload = buffer.substr(offset_ + 4, size);
    offset_ += 4 + size;
    try {
        Poco::JSON::Parser parser;
        auto value = parser.parse(payload);
        if (value.type() == typeid(Poco::JSON::Object::Ptr)) return value.extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception&) {
    }
    throw ProtocolError("a frame that is not a JSON object");
}

void FrameReader::compact(std::string& buffer) {
    buffer.erase(0, offset_);
    offset_ = 0;
}

std::string requireString(const Poco::JSON::Object& message, const std::string& key) {
    if (!message.has(key) || !message.get(key).isString()) throw ProtocolError("field '" + key + "' missing");
    return message.getValue<std::string>(key);
}

std::int64_t requireInt(const Poco::JSON::Object& message, const std::string& key) {
    if (!message.has(key) || !message.get(key).isNumeric()) throw ProtocolError("field '" + key + "' missing");
    return message.get(key).convert<std::int64_t>();
}

std::string optionalString(const Poco::JSON::Object& message, const std::string& key) {
    if (!message.has(key) || !message.get(key).isString()) return {};
    return message.getValue<std::string>(key);
}

} // namespace sideband::isolation::protocol
