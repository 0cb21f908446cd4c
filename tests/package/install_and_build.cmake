# Script mode (cmake -P): proves that an installed kauri_quota can be used
# by an outside project.
#   1. cmake --install the build tree into KQ_WORK_DIR/prefix;
#   2. check the installed files (headers, package files, migrations, CLI);
#   3. configure, build and run examples/embed with
#      find_package(kauri_quota CONFIG REQUIRED) against that prefix only;
#   4. compile and run the same example with the flags from pkg-config
#      (when pkg-config is available).
cmake_minimum_required(VERSION 3.25)

foreach(var KQ_BINARY_DIR KQ_SOURCE_DIR KQ_WORK_DIR KQ_BUILD_TYPE KQ_GENERATOR KQ_CXX_COMPILER KQ_LIBDIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "${var} must be set")
  endif()
endforeach()

set(prefix ${KQ_WORK_DIR}/prefix)
set(embed_build ${KQ_WORK_DIR}/embed-build)

# Runs a command, echoing it; fails the test on a non-zero exit code.
function(run_step name)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "[${name}] ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${name}] failed (exit code ${rc})")
  endif()
endfunction()

file(REMOVE_RECURSE ${KQ_WORK_DIR})
file(MAKE_DIRECTORY ${KQ_WORK_DIR})

# 1. Install.
set(config_args)
if(NOT "${KQ_CONFIG}" STREQUAL "")
  set(config_args --config ${KQ_CONFIG})
endif()
run_step(install ${CMAKE_COMMAND} --install ${KQ_BINARY_DIR} --prefix ${prefix} ${config_args})

# 2. The installed layout.
set(expected
    include/kauri_quota/http_answer.hpp
    include/kauri_quota/kauri_quota.hpp
    include/kauri_quota/quota_service.hpp
    include/kauri_quota/result.hpp
    include/kauri_quota/storage.hpp
    include/kauri_quota/types.hpp
    include/kauri_quota/version.hpp
    ${KQ_LIBDIR}/cmake/kauri_quota/kauri_quota-config.cmake
    ${KQ_LIBDIR}/cmake/kauri_quota/kauri_quota-config-version.cmake
    ${KQ_LIBDIR}/cmake/kauri_quota/kauri_quotaTargets.cmake
    ${KQ_LIBDIR}/pkgconfig/kauri_quota.pc)
if(KQ_BUILD_CLI)
  list(APPEND expected bin/kauri-quota)
endif()
foreach(backend sqlite postgres)
  file(GLOB sources RELATIVE ${KQ_SOURCE_DIR}/schema/${backend} ${KQ_SOURCE_DIR}/schema/${backend}/*.sql)
  foreach(sql ${sources})
    list(APPEND expected share/kauri_quota/schema/${backend}/${sql})
  endforeach()
endforeach()
foreach(file ${expected})
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "not installed: ${file}")
  endif()
endforeach()
file(GLOB_RECURSE installed_headers RELATIVE ${prefix} ${prefix}/include/*)
foreach(header ${installed_headers})
  if(NOT header MATCHES "^include/kauri_quota/[a-z_]+\\.hpp$")
    message(FATAL_ERROR "unexpected installed header: ${header}")
  endif()
endforeach()

# 3. find_package from a separate project. Only the prefix is searched for
#    kauri_quota: the package registries are off, and the build tree is not
#    on any path.
run_step(
  configure
  ${CMAKE_COMMAND}
  -S ${KQ_SOURCE_DIR}/examples/embed
  -B ${embed_build}
  -G ${KQ_GENERATOR}
  -DCMAKE_BUILD_TYPE=${KQ_BUILD_TYPE}
  -DCMAKE_CXX_COMPILER=${KQ_CXX_COMPILER}
  "-DCMAKE_CXX_FLAGS=${KQ_CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${KQ_EXE_LINKER_FLAGS}"
  -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
file(STRINGS ${embed_build}/CMakeCache.txt found_dir REGEX "^kauri_quota_DIR:")
string(REGEX REPLACE "^kauri_quota_DIR:[A-Z]+=" "" found_dir "${found_dir}")
file(REAL_PATH "${found_dir}" found_dir)
file(REAL_PATH "${prefix}" real_prefix)
string(FIND "${found_dir}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "find_package found kauri_quota in ${found_dir}, not in ${real_prefix}")
endif()
run_step(build ${CMAKE_COMMAND} --build ${embed_build} ${config_args})

set(embed_exe ${embed_build}/kauri_quota_embed)
if(NOT EXISTS ${embed_exe} AND NOT "${KQ_CONFIG}" STREQUAL "")
  set(embed_exe ${embed_build}/${KQ_CONFIG}/kauri_quota_embed)
endif()
run_step(run-find-package ${embed_exe})

# 4. pkg-config, as a Makefile or a plain compiler command line would use it.
find_program(pkg_config NAMES pkg-config pkgconf)
if(NOT pkg_config)
  message(STATUS "[pkg-config] skipped: pkg-config not found")
  return()
endif()
set(ENV{PKG_CONFIG_PATH} ${prefix}/${KQ_LIBDIR}/pkgconfig)
execute_process(
  COMMAND ${pkg_config} --cflags --libs kauri_quota
  OUTPUT_VARIABLE pc_flags
  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "[pkg-config] pkg-config --cflags --libs kauri_quota failed")
endif()
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
separate_arguments(extra_flags UNIX_COMMAND "${KQ_CXX_FLAGS} ${KQ_EXE_LINKER_FLAGS}")
set(pc_exe ${KQ_WORK_DIR}/kauri_quota_embed_pkg_config)
run_step(compile-pkg-config ${KQ_CXX_COMPILER} -std=c++20 ${extra_flags} ${KQ_SOURCE_DIR}/examples/embed/main.cpp
         ${pc_flags} -Wl,-rpath,${prefix}/${KQ_LIBDIR} -o ${pc_exe})
run_step(run-pkg-config ${pc_exe})
