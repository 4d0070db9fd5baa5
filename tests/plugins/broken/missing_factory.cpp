// Broken on purpose: exports the right build fingerprint but no factory.
#include <sideband/sdk/Fingerprint.h>

#include <boost/config.hpp>

extern "C" BOOST_SYMBOL_EXPORT const char sideband_sdk_fingerprint[] = SIDEBAND_SDK_FINGERPRINT;
