#pragma once

#include <string>

namespace sideband::simulator {

// One whole RFC 6455 frame as a server writes it: FIN set, the given opcode, no mask, and the
// shortest length form (7-bit up to 125 bytes, 16-bit up to 65,535, else 64-bit). The split-frame
// mode needs the frame's bytes to write them one at a time, which Poco's sendFrame cannot do.
std::string encodeServerFrame(int opcode, const std::string& payload);

// The payload of a CLOSE frame: the status code in network byte order, then the reason.
std::string closeFramePayload(int statusCode, const std::string& reason);

} // namespace sideband::simulator
