# cmake -P: installs the SDK component of BUILD_DIR into WORK_DIR/prefix, then builds and tests each
# plugin project in PLUGIN_SOURCE_DIR (a ;-list, passed with | separators) against it, as a tenant would.
foreach(var BUILD_DIR PLUGIN_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "${var} is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
  message(STATUS "ok: ${ARGN}")
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --component sdk --prefix ${prefix})
if(NOT EXISTS ${prefix}/lib/cmake/SidebandSDK/SidebandSDKConfig.cmake)
  message(FATAL_ERROR "the SDK package config was not installed")
endif()

set(flags "")
if(SANITIZE)
  # The installed loader library was built with the sanitizers; its users must link them too.
  set(flags -DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined
    -DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=address,undefined)
endif()
string(REPLACE "|" ";" projects "${PLUGIN_SOURCE_DIR}")
foreach(project IN LISTS projects)
  get_filename_component(name ${project} NAME)
  set(build ${WORK_DIR}/build-${name})
  run(${CMAKE_COMMAND} -S ${project} -B ${build} -G ${CMAKE_GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release ${flags})
  run(${CMAKE_COMMAND} --build ${build} -j2)
  run(${CMAKE_CTEST_COMMAND} --test-dir ${build} --output-on-failure)
endforeach()
