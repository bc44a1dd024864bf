# SPDX-License-Identifier: MIT
# Build step (cmake -P) for the installed libcio.a: one relocatable object
# whose only global symbols are the ones libcio.so exports, so that the
# static archive offers what the shared library does and nothing more: no
# cio__ internals, no llhttp (which would clash with an application's own
# copy), no assembly helpers.
#
#   -DOBJECTS=<file listing the objects, one a line> -DSHARED=<libcio.so>
#   -DOUT=<object to write>
#   -DLD=<linker> -DNM=<nm> -DOBJCOPY=<objcopy>
#
# ld -r joins the objects (hidden symbols still resolve between them, as in
# the shared library); objcopy --keep-global-symbols then makes every other
# defined symbol local.  The in-tree programs link cio_internal instead,
# the same objects unjoined, so tests can still call cio__ hooks.
foreach(_v OBJECTS SHARED OUT LD NM OBJCOPY)
  if(NOT ${_v})
    message(FATAL_ERROR "localize.cmake: -D${_v}= missing")
  endif()
endforeach()
execute_process(COMMAND "${NM}" -D --defined-only "${SHARED}"
  OUTPUT_VARIABLE _syms COMMAND_ERROR_IS_FATAL ANY)
string(REPLACE "\n" ";" _lines "${_syms}")
set(_keep "")
foreach(_l IN LISTS _lines)
  # "<address> <type> <name>[@@CIO_0.1]"; the version node itself is type A
  if(_l MATCHES "^[0-9a-fA-F]+ [BDGRSTVWiu] ([A-Za-z_][A-Za-z0-9_]*)")
    string(APPEND _keep "${CMAKE_MATCH_1}\n")
  endif()
endforeach()
if(_keep STREQUAL "")
  message(FATAL_ERROR "localize.cmake: ${SHARED} exports nothing")
endif()
file(WRITE "${OUT}.keep" "${_keep}")
file(STRINGS "${OBJECTS}" _objs)
execute_process(COMMAND "${LD}" -r -o "${OUT}.tmp" ${_objs} COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND "${OBJCOPY}" "--keep-global-symbols=${OUT}.keep" "${OUT}.tmp" "${OUT}"
  COMMAND_ERROR_IS_FATAL ANY)
file(REMOVE "${OUT}.tmp")
