# SPDX-License-Identifier: MIT
# Optional modules of libcio: parts that pull in a library of their own
# (libcurl for the HTTP client...), so that a consumer who only wants the
# loop, tasks and streams can build without them.
#
#   cio_module(NAME "what it is" PKGS <pkg-config modules> SOURCES <paths>)
#
# declares the option CIO_WITH_<NAME>, ON by default.  ON: the pkg-config
# modules join CIO_LIB_PKGS (found, linked and defined as CIO_HAVE_<MODULE>
# like the core ones).  OFF: SOURCES (files, or directories: everything
# under them; relative to the source root) are left out of libcio, NAME is
# added to CIO_MODULES_OFF, and the declarations in cio.h stay, so calling
# the module's functions is a link error rather than a stub.
#
# Call it before the pkg-config search; it sets, in the caller's scope,
# CIO_LIB_PKGS, CIO_MODULES_ON, CIO_MODULES_OFF and CIO_EXCLUDED_SOURCES
# (regular expressions over absolute source paths).
function(cio_module name doc)
  cmake_parse_arguments(M "" "" "PKGS;SOURCES" ${ARGN})
  option(CIO_WITH_${name} "${doc}" ON)
  if(CIO_WITH_${name})
    list(APPEND CIO_LIB_PKGS ${M_PKGS})
    list(APPEND CIO_MODULES_ON ${name})
  else()
    list(APPEND CIO_MODULES_OFF ${name})
    foreach(_p IN LISTS M_SOURCES)
      get_filename_component(_abs "${_p}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
      string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" _re "${_abs}")
      if(IS_DIRECTORY "${_abs}")
        list(APPEND CIO_EXCLUDED_SOURCES "^${_re}/")
      else()
        list(APPEND CIO_EXCLUDED_SOURCES "^${_re}$")
      endif()
    endforeach()
  endif()
  foreach(_v CIO_LIB_PKGS CIO_MODULES_ON CIO_MODULES_OFF CIO_EXCLUDED_SOURCES)
    set(${_v} "${${_v}}" PARENT_SCOPE)
  endforeach()
endfunction()
