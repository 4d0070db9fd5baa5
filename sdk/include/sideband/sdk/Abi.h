#pragma once

// The two symbols every plugin exports (written by SIDEBAND_PLUGIN, see Export.h):
//
//   extern "C" const char sideband_sdk_fingerprint[];
//       The build fingerprint (Fingerprint.h): SDK ABI version, compiler, C++ ABI, libstdc++, Poco,
//       Boost and the SDK headers' hash. The host reads it from the file's bytes before dlopen (so
//       before any of the plugin's constructors run) and refuses the plugin unless every field
//       equals its own. `strings plugin.so | grep sideband-sdk-fingerprint` shows it.
//   sideband_plugin_create  (Boost.DLL alias of `sideband::sdk::Plugin* ()`)
//       The factory. Called once per load, on the loading thread, after the fingerprint check.
//       Returns a new Plugin the host owns (deleted through its virtual destructor before the
//       library is unloaded); may throw std::exception, which the host reports as "factory threw".

#include <cstdint>

// Bump on any change to the declarations in Plugin.h (2: ToolCall::callId). The headers' hash in the
// fingerprint catches a forgotten bump; the number says which side is newer.
#define SIDEBAND_SDK_ABI_VERSION 2

namespace sideband::sdk {
inline constexpr std::uint32_t kAbiVersion = SIDEBAND_SDK_ABI_VERSION;
inline constexpr const char* kFingerprintSymbol = "sideband_sdk_fingerprint";
inline constexpr const char* kFactoryAlias = "sideband_plugin_create";
} // namespace sideband::sdk
