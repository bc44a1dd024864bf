# SPDX-License-Identifier: MIT
# llhttp (Node's HTTP parser, for the HTTP server in src/http/).
#
# 1. An installed library, found by pkg-config (upstream llhttp installs
#    libllhttp.pc): it joins CIO_LIB_PKGS like any other dependency.
# 2. Otherwise its C sources, compiled into libcio: Debian's node-llhttp
#    ships them in /usr/share/llhttp with the header in
#    /usr/share/include/llhttp.  CIO_LLHTTP_SOURCE_DIR and
#    CIO_LLHTTP_INCLUDE_DIR (cache variables) point elsewhere.  Strict mode
#    (no lenient parsing); hidden like the rest of libcio, and local in
#    libcio.a (cmake/localize.cmake), so an application's own llhttp never
#    clashes with this copy; their own -Wextra noise relaxed.
#
# Sets CIO_LLHTTP_SOURCES (empty for the library) and CIO_LLHTTP_INCLUDE
# (empty for the library: its imported target carries the include path);
# appends to CIO_LIB_PKGS in case 1.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CIO_LLHTTP_PC QUIET libllhttp)
set(CIO_LLHTTP_SOURCES "")
set(CIO_LLHTTP_INCLUDE "")
if(CIO_LLHTTP_PC_FOUND)
  list(APPEND CIO_LIB_PKGS libllhttp)
  message(STATUS "cio: llhttp ${CIO_LLHTTP_PC_VERSION} found by pkg-config (libllhttp)")
  return()
endif()

find_path(CIO_LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp
  DOC "Directory of llhttp's C sources (api.c http.c llhttp.c)")
find_path(CIO_LLHTTP_INCLUDE_DIR llhttp.h PATH_SUFFIXES llhttp PATHS /usr/share/include
  DOC "Directory of llhttp.h")
if(NOT CIO_LLHTTP_SOURCE_DIR OR NOT CIO_LLHTTP_INCLUDE_DIR)
  message(FATAL_ERROR "cio: llhttp not found: neither pkg-config's libllhttp nor its C sources "
                      "(install the Debian package node-llhttp: scripts/deps.sh does it; or set "
                      "CIO_LLHTTP_SOURCE_DIR and CIO_LLHTTP_INCLUDE_DIR)")
endif()
foreach(_f api.c http.c llhttp.c)
  list(APPEND CIO_LLHTTP_SOURCES "${CIO_LLHTTP_SOURCE_DIR}/${_f}")
endforeach()
set(CIO_LLHTTP_INCLUDE "${CIO_LLHTTP_INCLUDE_DIR}")
set_source_files_properties(${CIO_LLHTTP_SOURCES} PROPERTIES
  COMPILE_DEFINITIONS "LLHTTP_STRICT_MODE=1"
  COMPILE_OPTIONS "-Wno-unused-parameter")
