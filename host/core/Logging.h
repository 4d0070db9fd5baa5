#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace sideband::logging {

enum class Format { Human, Json };

// Configures the default spdlog logger once per process: stderr, one line per event.
void configure(Format format, spdlog::level::level_enum level);
Format parseFormat(const std::string& name);

} // namespace sideband::logging
