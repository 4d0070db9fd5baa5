#pragma once

// The two symbols every plugin exports (written by SIDEBAND_PLUGIN, see Export.h), dependency-free
// so tools like `nm -D` and the host's loader can read them before touching any C++ type.
//
//   extern "C" const std::uint32_t sideband_sdk_abi_version;
//       The SIDEBAND_SDK_ABI_VERSION the plugin was compiled with. The host reads it right after
//       dlopen and, on mismatch, refuses the plugin without calling anything in it.
//   sideband_plugin_create  (Boost.DLL alias of `sideband::sdk::Plugin* ()`)
//       The factory. Called once per load, on the loading thread, after the version check. Returns
//       a new Plugin the host owns (deleted through its virtual destructor before the library is
//       unloaded); may throw std::exception, which the host reports as "factory threw".

#include <cstdint>

// Bump on any change to the declarations in Plugin.h.
#define SIDEBAND_SDK_ABI_VERSION 1u

namespace sideband::sdk {
inline constexpr std::uint32_t kAbiVersion = SIDEBAND_SDK_ABI_VERSION;
inline constexpr const char* kAbiVersionSymbol = "sideband_sdk_abi_version";
inline constexpr const char* kFactoryAlias = "sideband_plugin_create";
} // namespace sideband::sdk
