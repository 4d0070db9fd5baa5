// Broken on purpose: exports a fingerprint that differs from the host's in the poco field only
// (written by hand, not by SIDEBAND_PLUGIN). The loader must refuse it from the file's bytes,
// before dlopen: its global constructor writes the file named by SIDEBAND_TEST_WRONG_ABI_MARKER (so a
// test sees that it ran), and its factory aborts.
#include <sideband/sdk/Fingerprint.h>
#include <sideband/sdk/Plugin.h>

#include <boost/dll/alias.hpp>

#include <cstdlib>
#include <fstream>

#define WRONG_ABI_POCO "0x7fff0000"

extern "C" BOOST_SYMBOL_EXPORT const char sideband_sdk_fingerprint[] = SIDEBAND_SDK_FINGERPRINT_OF(
    SIDEBAND_SDK_FP_SDK, SIDEBAND_SDK_FP_COMPILER, SIDEBAND_SDK_FP_CXXABI, SIDEBAND_SDK_FP_LIBSTDCXX, WRONG_ABI_POCO,
    SIDEBAND_SDK_FP_BOOST, SIDEBAND_SDK_FP_HEADERS);

__attribute__((constructor)) static void markLoaded() {
    if (const char* marker = std::getenv("SIDEBAND_TEST_WRONG_ABI_MARKER")) std::ofstream(marker) << "loaded\n";
}

namespace wrong_abi {
sideband::sdk::Plugin* create() {
    std::abort();
}
} // namespace wrong_abi
BOOST_DLL_ALIAS(wrong_abi::create, sideband_plugin_create)
