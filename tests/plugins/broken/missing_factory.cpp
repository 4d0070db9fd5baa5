// Broken on purpose: exports the ABI version but no factory.
#include <sideband/sdk/Abi.h>

#include <boost/config.hpp>

extern "C" BOOST_SYMBOL_EXPORT const std::uint32_t sideband_sdk_abi_version = SIDEBAND_SDK_ABI_VERSION;
