#pragma once

// Written once per plugin, in one .cpp file, at namespace scope:
//
//     SIDEBAND_PLUGIN(my::AppointmentsPlugin)
//
// It exports the factory (a Boost.DLL alias, so the symbol name is stable and readable) and the
// build fingerprint (Fingerprint.h) the host checks before loading the library. The class needs a
// default constructor.

#include "sideband/sdk/Abi.h"
#include "sideband/sdk/Fingerprint.h"
#include "sideband/sdk/Plugin.h"

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#define SIDEBAND_PLUGIN(PluginClass)                                                                                   \
    extern "C" BOOST_SYMBOL_EXPORT const char sideband_sdk_fingerprint[] = SIDEBAND_SDK_FINGERPRINT;                   \
    namespace sideband_plugin_export {                                                                                 \
    ::sideband::sdk::Plugin* create() {                                                                                \
        return new PluginClass();                                                                                      \
    }                                                                                                                  \
    }                                                                                                                  \
    BOOST_DLL_ALIAS(sideband_plugin_export::create, sideband_plugin_create)
