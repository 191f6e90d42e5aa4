# Makes the installed static library, libipsnet.a: libipsnet's objects and
# the members of ipsnet-common they need linked into one object (ld -r), in
# which every global symbol but the public API that libipsnet.map exports
# from the shared library is made local (objcopy). A program that links the
# archive then needs none of our internals, and its own functions of the
# same names (log_msg, util_random, ...) neither clash with the library's
# nor take their place. Run by client/CMakeLists.txt:
#
#   cmake -DLINKER= -DOBJCOPY= -DAR= -DMAP=libipsnet.map
#         -DOBJECTS=a.o|b.o -DCOMMON=libipsnet-common.a -DOUT=libipsnet.a
#         -P libipsnet_archive.cmake

# The names of the map's global: section, one a line; "ipsnet__v1__*" is a
# pattern (objcopy --wildcard).
file(STRINGS ${MAP} lines)
set(in_global FALSE)
set(keep "")
set(undefined "")
foreach(line IN LISTS lines)
  if(line MATCHES "^[ \t]*global:")
    set(in_global TRUE)
  elseif(line MATCHES "^[ \t]*local:")
    set(in_global FALSE)
  elseif(in_global AND line MATCHES "^[ \t]*([A-Za-z0-9_*]+);")
    # Kept by name: the test below sets CMAKE_MATCH_1 anew (to nothing,
    # when it does not match), and "-u" alone then took the next argument,
    # an object file, for a symbol's name.
    set(name "${CMAKE_MATCH_1}")
    string(APPEND keep "${name}\n")
    # Each function of the API is taken from ipsnet-common even when the
    # client's objects do not call it.
    if(NOT name MATCHES "\\*")
      list(APPEND undefined -u ${name})
    endif()
  endif()
endforeach()
file(WRITE ${OUT}.syms "${keep}")

string(REPLACE "|" ";" objects "${OBJECTS}")
file(REMOVE ${OUT} ${OUT}.o)
execute_process(
  COMMAND ${LINKER} -r -o ${OUT}.o ${undefined} ${objects} ${COMMON}
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(
  COMMAND ${OBJCOPY} --wildcard --keep-global-symbols=${OUT}.syms ${OUT}.o
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${AR} rcs ${OUT} ${OUT}.o COMMAND_ERROR_IS_FATAL ANY)
