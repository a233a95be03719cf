# cmake -DMODULE=<m> -DDEPS=<a;b> -P check_layers.cmake: runs the build's own
# layer check on one module's dependencies (see cmake/layers.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/layers.cmake)
czifs_check_layers(${MODULE} ${DEPS})
message(STATUS "czifs_module(${MODULE}): dependencies allowed")
