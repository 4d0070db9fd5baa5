#pragma once

// The wire between the host and a tenant's sideband-plugin-runner: one Unix socketpair, frames of a
// 4-byte big-endian length followed by one JSON object. Versioned by `kVersion`, which the runner
// states in its first frame; the host refuses any other version. Documented in docs/plugins.md.
//
//   host -> runner                                   runner -> host
//   call_open  {call, tenant, caller, dialed, config}
//   call_close {call}
//   tool       {id, call, name, arguments,           tool_result {id, output, outcome}
//               function_call_id, timeout_ms}
//   cancel     {id}
//   hook       {id, call, hook, ...}                 hook_done   {id, instructions?, greeting?, error?}
//   action_result {id, ok, error?}                   action      {id, call, action, target?}
//   ping       {id}                                  pong        {id}
//                                                    ready       {protocol, tools, sha256, sandbox}
//                                                    load_failed {protocol, reason, message}
//                                                    log         {call, level, message}
//
// Nothing in a frame is a secret: the runner never receives the API key or the webhook secret.

#include <Poco/JSON/Object.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace sideband::isolation::protocol {

inline constexpr int kVersion = 1;
// A frame larger than this is a broken peer: the connection is dropped (tool outputs are far smaller).
inline constexpr std::size_t kMaxFrameBytes = 1u << 20;

class ProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One frame: length prefix + the object's compact JSON.
std::string encode(const Poco::JSON::Object& message);

// Takes whole frames from the front of a receive buffer without copying the rest on every frame.
class FrameReader {
public:
    // The next whole message in `buffer`, or nullptr when more bytes are needed. Consumed bytes are
    // erased from `buffer` once per call batch (compact()). Throws ProtocolError on an oversized
    // frame or a payload that is not a JSON object.
    Poco::JSON::Object::Ptr next(std::string& buffer);
    // Drops the bytes already handed out; call after a batch of next().
    void compact(std::string& buffer);

private:
    std::size_t offset_ = 0;
};

// Helpers for reading fields; missing or mistyped fields throw ProtocolError naming the field.
std::string requireString(const Poco::JSON::Object& message, const std::string& key);
std::int64_t requireInt(const Poco::JSON::Object& message, const std::string& key);
std::string optionalString(const Poco::JSON::Object& message, const std::string& key);

} // namespace sideband::isolation::protocol
