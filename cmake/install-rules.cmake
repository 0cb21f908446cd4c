# Install rules, included by the root CMakeLists.txt when kauri_quota is the
# top-level project. They install:
#   - the library and its CMake package (find_package(kauri_quota CONFIG)),
#     exporting kauri_quota::kauri_quota;
#   - the public headers, listed explicitly in src/CMakeLists.txt;
#   - a pkg-config file (kauri_quota.pc);
#   - the SQL migrations, for DBAs who apply them by hand (the library
#     itself embeds them and needs no files at run time);
#   - the kauri-quota CLI when it is built.

include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

if(NOT DEFINED kauri_quota_public_headers)
  message(FATAL_ERROR "kauri_quota_public_headers is not set: src/CMakeLists.txt must list the public headers")
endif()

set(kauri_quota_INSTALL_CMAKEDIR
    "${CMAKE_INSTALL_LIBDIR}/cmake/kauri_quota"
    CACHE STRING "Install directory of the kauri_quota CMake package, relative to the prefix")
mark_as_advanced(kauri_quota_INSTALL_CMAKEDIR)

install(
  TARGETS kauri_quota
  EXPORT kauri_quotaTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT kauri_quota_Runtime
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT kauri_quota_Runtime
          NAMELINK_COMPONENT kauri_quota_Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT kauri_quota_Development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(
  FILES ${kauri_quota_public_headers}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kauri_quota
  COMPONENT kauri_quota_Development)

install(
  EXPORT kauri_quotaTargets
  NAMESPACE kauri_quota::
  DESTINATION ${kauri_quota_INSTALL_CMAKEDIR}
  COMPONENT kauri_quota_Development)

# A static library carries its private dependencies into the consumer's
# link ($<LINK_ONLY:...> in the export), so the package config must find
# them too; a shared one needs only its public dependencies.
get_target_property(kauri_quota_type kauri_quota TYPE)
if(kauri_quota_type STREQUAL "STATIC_LIBRARY")
  set(KAURI_QUOTA_STATIC ON)
else()
  set(KAURI_QUOTA_STATIC OFF)
endif()
if(KAURI_QUOTA_WITH_POSTGRES)
  set(KAURI_QUOTA_PACKAGE_WITH_POSTGRES ON)
else()
  set(KAURI_QUOTA_PACKAGE_WITH_POSTGRES OFF)
endif()

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/kauri_quota-config.cmake.in ${PROJECT_BINARY_DIR}/kauri_quota-config.cmake
  INSTALL_DESTINATION ${kauri_quota_INSTALL_CMAKEDIR}
  NO_SET_AND_CHECK_MACRO)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kauri_quota-config-version.cmake
                                 COMPATIBILITY SameMajorVersion)
install(
  FILES ${PROJECT_BINARY_DIR}/kauri_quota-config.cmake ${PROJECT_BINARY_DIR}/kauri_quota-config-version.cmake
  DESTINATION ${kauri_quota_INSTALL_CMAKEDIR}
  COMPONENT kauri_quota_Development)

# pkg-config. Paths are relative to the .pc file's own directory so that
# an installed tree can be moved (cmake --install --prefix ...).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(KAURI_QUOTA_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(KAURI_QUOTA_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH kauri_quota_pc_up "/kauri_quota_prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/kauri_quota_prefix")
  string(REGEX REPLACE "/$" "" kauri_quota_pc_up "${kauri_quota_pc_up}")
  set(KAURI_QUOTA_PC_PREFIX "\${pcfiledir}/${kauri_quota_pc_up}")
  set(KAURI_QUOTA_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(KAURI_QUOTA_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(KAURI_QUOTA_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# The backends' libraries are named directly rather than through
# Requires.private: Debian's sqlite3.pc and libpq.pc list static-only
# libraries (-lz, -lpgcommon, -lpgport, ...) that a shared link never needs
# and that are often not installed. A static kauri_quota puts them in Libs,
# so that plain `pkg-config --libs kauri_quota` links; a shared one keeps
# them in Libs.private.
set(kauri_quota_pc_deps "-lSQLiteCpp -lsqlite3 -lfmt -ldate-tz")
if(KAURI_QUOTA_WITH_POSTGRES)
  string(APPEND kauri_quota_pc_deps " -lpq")
endif()
string(APPEND kauri_quota_pc_deps " -pthread")
if(KAURI_QUOTA_STATIC)
  set(KAURI_QUOTA_PC_LIBS "-L\${libdir} -lkauri_quota ${kauri_quota_pc_deps}")
  set(KAURI_QUOTA_PC_LIBS_PRIVATE "")
else()
  set(KAURI_QUOTA_PC_LIBS "-L\${libdir} -lkauri_quota")
  set(KAURI_QUOTA_PC_LIBS_PRIVATE "${kauri_quota_pc_deps}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/kauri_quota.pc.in ${PROJECT_BINARY_DIR}/kauri_quota.pc @ONLY)
install(
  FILES ${PROJECT_BINARY_DIR}/kauri_quota.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT kauri_quota_Development)

# SQL migrations (NNNN_name.up.sql / .down.sql), one folder per backend.
install(
  DIRECTORY ${PROJECT_SOURCE_DIR}/schema/sqlite/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/kauri_quota/schema/sqlite
  COMPONENT kauri_quota_Development
  FILES_MATCHING
  PATTERN "*.sql")
install(
  DIRECTORY ${PROJECT_SOURCE_DIR}/schema/postgres/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/kauri_quota/schema/postgres
  COMPONENT kauri_quota_Development
  FILES_MATCHING
  PATTERN "*.sql")

install(
  FILES ${PROJECT_SOURCE_DIR}/LICENSE
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/kauri_quota
  COMPONENT kauri_quota_Runtime)

if(TARGET kauri-quota)
  if(NOT KAURI_QUOTA_STATIC AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}" AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    # Let the installed CLI find a shared libkauri_quota wherever the tree lands.
    file(RELATIVE_PATH kauri_quota_bin_to_lib "/kauri_quota_prefix/${CMAKE_INSTALL_BINDIR}"
         "/kauri_quota_prefix/${CMAKE_INSTALL_LIBDIR}")
    set_property(TARGET kauri-quota APPEND PROPERTY INSTALL_RPATH "$ORIGIN/${kauri_quota_bin_to_lib}")
  endif()
  install(TARGETS kauri-quota RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT kauri_quota_Runtime)
endif()
