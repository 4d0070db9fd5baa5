#pragma once

// Loading a plugin `.so` and running its tools: the code the host uses, shipped in the SDK so a
// plugin author's tests (PluginHarness) load and call a plugin exactly as the host will.

#include "sideband/sdk/Plugin.h"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sideband::sdk::loader {

// Why a plugin was refused; reasonName() gives the metric label.
enum class LoadFailure {
    OutsidePluginDir, // path escapes the plugin directory (host policy)
    FileMissing,      // no such file, or not readable
    Sha256Mismatch,   // pinned digest differs from the file's
    NotALibrary,      // dlopen refused it (not ELF, wrong architecture, missing dependency)
    SymbolMissing,    // no sideband_sdk_fingerprint (SDK older than ABI 2) or no sideband_plugin_create
    AbiMismatch,      // build fingerprint differs from the host's (SDK ABI, toolchain, Poco, Boost, headers)
    FactoryThrew,     // the factory threw or returned null
    InvalidTools,     // tools() threw, duplicate or bad names, bad JSON schema
};
const char* reasonName(LoadFailure reason);

class LoadError : public std::runtime_error {
public:
    LoadError(LoadFailure reason, const std::string& message) : std::runtime_error(message), reason_(reason) {}
    LoadFailure reason() const { return reason_; }

private:
    LoadFailure reason_;
};

struct LoadOptions {
    std::string expectedSha256; // lower-case hex; empty: no pin
    // Where the private copy that gets dlopen'ed is written (see loadPlugin). Empty: a fresh
    // directory under the system temp directory.
    std::string copyDirectory;
};

// A loaded, validated plugin. Holding `plugin` (or any copy of it) keeps the library mapped.
struct LoadedPlugin {
    std::shared_ptr<Plugin> plugin;
    std::vector<ToolDefinition> tools; // validated, and deep-copied into the loader's memory
    std::string sha256;                // of the bytes that were loaded
    std::string path;                  // the file as named by the caller
    std::uint32_t abiVersion = 0;      // the fingerprint's sdk= field
    std::string fingerprint;           // the plugin's sideband_sdk_fingerprint (equal to hostFingerprint())
};

// Reads `path` once, checks the pin, reads the build fingerprint from the ELF bytes and compares it
// with hostFingerprint() (all before dlopen: a refused plugin runs none of its code), writes the
// bytes to a private copy with a unique name, loads that copy with Boost.DLL, calls the factory and
// validates the tool list.
// Every load is a new library instance (dlopen caches by path; the unique copy defeats that), so a
// rebuilt file loads its new code while objects of the old one keep theirs. Throws LoadError.
LoadedPlugin loadPlugin(const std::string& path, const LoadOptions& options = {});

// This build's fingerprint (Fingerprint.h), as a plugin built with the same SDK and toolchain exports it.
std::string hostFingerprint();

// The string a plugin exports as sideband_sdk_fingerprint, read from the ELF64 file bytes (section
// headers, .dynsym/.dynstr, then the section holding the symbol) without loading anything. Empty
// when the bytes are not a well-formed ELF64 file of this byte order, lack the symbol, or its value
// is not a printable ASCII string of at most 1 KiB. Never throws on any input, never reads out of
// bounds.
std::optional<std::string> readFingerprint(const std::string& elfBytes);

// One entry per field that differs ("built for poco=X, this host has poco=Y"); empty when equal.
std::vector<std::string> fingerprintDifferences(const std::string& plugin, const std::string& host);

// Throws LoadError(InvalidTools) naming the first problem.
void validateTools(const std::vector<ToolDefinition>& tools);

std::string sha256Hex(const std::string& bytes);

// How one tool call ended; outcomeName() gives the metric label.
enum class ToolOutcome { Ok, Error, InvalidOutput, UnknownTool, BadArguments, Timeout };
const char* outcomeName(ToolOutcome outcome);

struct ToolOutput {
    std::string json; // what the model is sent: the tool's result or {"error":"..."}
    ToolOutcome outcome = ToolOutcome::Ok;
};

// {"error": message} as compact JSON.
std::string errorOutput(const std::string& message);

// Runs one tool exactly as the host does: an unknown tool, an exception or a result that is not a
// JSON object becomes {"error":"..."}; the result is serialized before returning, so nothing the
// plugin allocated outlives the call. Never throws.
ToolOutput runTool(Plugin& plugin, const std::vector<ToolDefinition>& tools, CallContext& call, const ToolCall& tool);

// Parses the model's argument text (empty means {}); nullptr when it is not a JSON object.
Poco::JSON::Object::Ptr parseArguments(const std::string& argumentsJson);

} // namespace sideband::sdk::loader
