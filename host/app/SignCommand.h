#pragma once

#include <string>
#include <vector>

namespace sideband {

// `sideband-host sign`: prints a correctly signed webhook delivery as a ready curl line (or as
// headers), so an operator can test the endpoint the way the spec asks. The secret comes from the
// environment (OPENAI_WEBHOOK_SECRET by default), never from the command line, where `ps` shows it.
int runSignCommand(const std::vector<std::string>& args);

} // namespace sideband
