// Broken on purpose: claims another SDK ABI version. Its factory aborts, so a host that called it
// after the version check failed would crash the test.
#include <sideband/sdk/Plugin.h>

#include <boost/dll/alias.hpp>

#include <cstdlib>

extern "C" BOOST_SYMBOL_EXPORT const std::uint32_t sideband_sdk_abi_version = SIDEBAND_SDK_ABI_VERSION + 41;

namespace wrong_abi {
sideband::sdk::Plugin* create() {
    std::abort();
}
} // namespace wrong_abi
BOOST_DLL_ALIAS(wrong_abi::create, sideband_plugin_create)
