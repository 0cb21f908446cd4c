# kauri_quota_set_warnings(<target>)
#
# Turns on the project's warning set for one of its own targets (never for
# third-party code, whose headers are system headers anyway). With
# KAURI_QUOTA_WARNINGS_AS_ERRORS=ON (the dev and ci presets) every warning
# fails the build.

option(KAURI_QUOTA_WARNINGS_AS_ERRORS "Treat compiler warnings in kauri_quota's own targets as errors" OFF)

function(kauri_quota_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow)
    if(KAURI_QUOTA_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(KAURI_QUOTA_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  endif()
endfunction()
