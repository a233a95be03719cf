# cmake [-DFROM=<m> -DTO=<m>] -P check_graph.cmake: the build's own check of
# the module graph (cmake/layers.cmake), with a PRIVATE use FROM -> TO added
# first if given.
cmake_minimum_required(VERSION 3.22)  # policies as in the build (IN_LIST)
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/layers.cmake)
if(DEFINED FROM)
  set_property(GLOBAL APPEND PROPERTY CZIFS_PRIVATE_${FROM} ${TO})
  czifs_check_graph()
endif()
message(STATUS "czifs module graph: acyclic, every use declared")
