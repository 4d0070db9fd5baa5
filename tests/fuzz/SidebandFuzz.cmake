# Included from the top CMakeLists.txt before any target is defined (the targets themselves are
# added at its end, tests/fuzz/CMakeLists.txt); a no-op unless SIDEBAND_FUZZ=ON.
# libFuzzer targets (tests/fuzz, docs/fuzzing.md): clang only. Every library is instrumented for
# coverage (fuzzer-no-link) and ASan+UBSan; only the fuzz targets link libFuzzer's main.
option(SIDEBAND_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only; see docs/fuzzing.md)" OFF)
if(SIDEBAND_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SIDEBAND_FUZZ needs clang: configure with CC=clang CXX=clang++ (tools/fuzz.sh does)")
  endif()
  if(SIDEBAND_TSAN)
    message(FATAL_ERROR "SIDEBAND_FUZZ and SIDEBAND_TSAN cannot be combined")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
