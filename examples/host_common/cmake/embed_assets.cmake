# kauri_embed_assets(<target> DIR <folder> SYMBOL <c++ name>)
#
# Embeds every file under <folder> (recursively; names relative to it, with
# '/') into <target> as `const kauri_host::asset_bundle <SYMBOL>` (declare
# it `extern` where it is used). An empty or missing folder gives an empty
# bundle. Adding or removing a file is picked up at the next build
# (CONFIGURE_DEPENDS); a changed file regenerates the source.
function(kauri_embed_assets target)
  cmake_parse_arguments(arg "" "DIR;SYMBOL" "" ${ARGN})
  if(NOT arg_DIR OR NOT arg_SYMBOL)
    message(FATAL_ERROR "kauri_embed_assets: DIR and SYMBOL are required")
  endif()
  file(GLOB_RECURSE files CONFIGURE_DEPENDS LIST_DIRECTORIES false "${arg_DIR}/*")
  list(SORT files)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${arg_SYMBOL}_assets.cpp")
  set(script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_assets_generate.cmake")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} "-DDIR=${arg_DIR}" "-DSYMBOL=${arg_SYMBOL}" "-DOUT=${out}" -P
            "${script}"
    DEPENDS ${files} "${script}"
    COMMENT "Embedding ${arg_DIR} as ${arg_SYMBOL}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()
