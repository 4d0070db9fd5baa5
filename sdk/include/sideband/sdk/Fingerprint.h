#pragma once

// The build fingerprint: one ASCII string naming everything a plugin's C++ types depend on. A plugin
// exports it as `sideband_sdk_fingerprint` (SIDEBAND_PLUGIN, Export.h); the host's loader builds its
// own with the same macro and compares them field by field, reading the plugin's from the file's
// bytes before dlopen, so a plugin built for another toolchain never runs a line of code.
//
//   sideband-sdk-fingerprint/1 sdk=2 compiler=gcc-12 cxxabi=1/1017 libstdcxx=12 poco=0x010B0000
//   boost=107400 headers=<16 hex digits>
//
// Fields: SIDEBAND_SDK_ABI_VERSION; compiler family and major version; _GLIBCXX_USE_CXX11_ABI and
// __GXX_ABI_VERSION; _GLIBCXX_RELEASE; POCO_VERSION; BOOST_VERSION; and the SHA-256 (first 16 hex
// digits) of the SDK's public headers, computed by CMake and passed by the SidebandSDK::sdk target
// as SIDEBAND_SDK_HEADERS_SHA256 (the installed package carries the same value).

#include "sideband/sdk/Abi.h"

#include <Poco/Version.h>

#include <boost/version.hpp>

#include <cstddef> // libstdc++'s configuration macros (_GLIBCXX_RELEASE, _GLIBCXX_USE_CXX11_ABI)

#ifndef SIDEBAND_SDK_HEADERS_SHA256
#error "SIDEBAND_SDK_HEADERS_SHA256 is not defined: link the SidebandSDK::sdk target (find_package(SidebandSDK))"
#endif

#define SIDEBAND_SDK_FP_STR2(x) #x
#define SIDEBAND_SDK_FP_STR(x) SIDEBAND_SDK_FP_STR2(x)

#if defined(__clang__)
#define SIDEBAND_SDK_FP_COMPILER "clang-" SIDEBAND_SDK_FP_STR(__clang_major__)
#elif defined(__GNUC__)
#define SIDEBAND_SDK_FP_COMPILER "gcc-" SIDEBAND_SDK_FP_STR(__GNUC__)
#else
#define SIDEBAND_SDK_FP_COMPILER "unknown"
#endif

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define SIDEBAND_SDK_FP_CXX11_ABI SIDEBAND_SDK_FP_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define SIDEBAND_SDK_FP_CXX11_ABI "none"
#endif
#if defined(__GXX_ABI_VERSION)
#define SIDEBAND_SDK_FP_CXXABI SIDEBAND_SDK_FP_CXX11_ABI "/" SIDEBAND_SDK_FP_STR(__GXX_ABI_VERSION)
#else
#define SIDEBAND_SDK_FP_CXXABI SIDEBAND_SDK_FP_CXX11_ABI "/none"
#endif

#if defined(_GLIBCXX_RELEASE)
#define SIDEBAND_SDK_FP_LIBSTDCXX SIDEBAND_SDK_FP_STR(_GLIBCXX_RELEASE)
#else
#define SIDEBAND_SDK_FP_LIBSTDCXX "none"
#endif

#define SIDEBAND_SDK_FP_SDK SIDEBAND_SDK_FP_STR(SIDEBAND_SDK_ABI_VERSION)
#define SIDEBAND_SDK_FP_POCO SIDEBAND_SDK_FP_STR(POCO_VERSION)
#define SIDEBAND_SDK_FP_BOOST SIDEBAND_SDK_FP_STR(BOOST_VERSION)
#define SIDEBAND_SDK_FP_HEADERS SIDEBAND_SDK_HEADERS_SHA256

// Every field given explicitly: tests use it to build a fingerprint that differs in one field.
#define SIDEBAND_SDK_FINGERPRINT_OF(sdk, compiler, cxxabi, libstdcxx, poco, boost, headers)                            \
    "sideband-sdk-fingerprint/1 sdk=" sdk " compiler=" compiler " cxxabi=" cxxabi " libstdcxx=" libstdcxx              \
    " poco=" poco " boost=" boost " headers=" headers

// The fingerprint of the translation unit that expands it.
#define SIDEBAND_SDK_FINGERPRINT                                                                                       \
    SIDEBAND_SDK_FINGERPRINT_OF(SIDEBAND_SDK_FP_SDK, SIDEBAND_SDK_FP_COMPILER, SIDEBAND_SDK_FP_CXXABI,                 \
                                SIDEBAND_SDK_FP_LIBSTDCXX, SIDEBAND_SDK_FP_POCO, SIDEBAND_SDK_FP_BOOST,                \
                                SIDEBAND_SDK_FP_HEADERS)
