#pragma once

#include <ostream>
#include <string>

namespace sideband {

// `sideband-host --check-config [--config FILE]`: reads the settings exactly as the host would
// (environment, then FILE) and checks, without binding a port or serving:
//   - every value parses (numbers in range, listen addresses, log format and level);
//   - OPENAI_WEBHOOK_SECRET and OPENAI_API_KEY are present (their values are never printed);
//   - SIDEBAND_TLS_CERT / SIDEBAND_TLS_KEY are readable, load, match and are not expired, or
//     SIDEBAND_INSECURE_HTTP=1 says TLS is off on purpose;
//   - OPENAI_BASE_URL is an http(s) URL with a host; SIDEBAND_OPENAI_CA_FILE loads when set;
//   - the store (SIDEBAND_DB) opens - an existing SQLite file is opened as the host opens it
//     (migrations may run); a missing one is not created, only its directory is checked;
//   - SIDEBAND_PLUGIN_DIR is a directory and every tenant's plugin loads (tools are not run).
// Prints one line per check to `out` ("ok: ..." or "problem: ..."), then a summary line, and
// returns 0 when nothing is wrong, 78 (EX_CONFIG) otherwise.
int runCheckConfig(const std::string& configFile, std::ostream& out);

} // namespace sideband
