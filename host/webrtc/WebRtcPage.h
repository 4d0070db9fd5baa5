#pragma once

#include <string>
#include <vector>

namespace sideband::webrtc {

// The try-it page's files (host/webrtc/page/), compiled in: no install step, no build step.
struct PageFile {
    std::string path;
    std::string contentType;
    std::string body;
};
const std::vector<PageFile>& pageFiles();

} // namespace sideband::webrtc
