# sideband_add_plugin(NAME <name> SOURCES <files...> [LIBRARIES <targets...>] [OUTPUT_DIRECTORY <dir>])
#
# Builds <name>.so (no "lib" prefix: the file name is what a tenant's config names) as a MODULE
# library against SidebandSDK::sdk, with hidden visibility so only the two SIDEBAND_PLUGIN exports
# leave the library. The output goes to OUTPUT_DIRECTORY, else ${SIDEBAND_PLUGIN_OUTPUT_DIRECTORY}
# when set, else the current binary directory. The target is called <name>.
function(sideband_add_plugin)
  cmake_parse_arguments(PLUGIN "" "NAME;OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT PLUGIN_NAME OR NOT PLUGIN_SOURCES)
    message(FATAL_ERROR "sideband_add_plugin: NAME and SOURCES are required")
  endif()
  add_library(${PLUGIN_NAME} MODULE ${PLUGIN_SOURCES})
  target_link_libraries(${PLUGIN_NAME} PRIVATE SidebandSDK::sdk ${PLUGIN_LIBRARIES})
  set_target_properties(${PLUGIN_NAME} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    OUTPUT_NAME ${PLUGIN_NAME}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${PLUGIN_NAME} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PLUGIN_OUTPUT_DIRECTORY})
  elseif(SIDEBAND_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${PLUGIN_NAME} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SIDEBAND_PLUGIN_OUTPUT_DIRECTORY})
  endif()
endfunction()
