# cmake -DSCRIPT=check_map.py -DFIXTURE=references.md -P check_map_refusals.cmake:
# the check must fail on the fixture, naming each wrong name and no right one.
execute_process(COMMAND /usr/bin/python3 ${SCRIPT} --references-only ${FIXTURE}
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "check_map.py passed a doc naming what does not exist:\n${out}")
endif()
foreach(wrong "PageReader::ReadEverything" "`src/plane/composer.cc`" "`fuse_fs_ops.cc`")
  string(FIND "${err}" "${wrong}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "check_map.py did not name ${wrong}:\n${err}")
  endif()
endforeach()
foreach(right "PageReader::Read," "`src/plane/compose.cc`" "`cmake/layers.cmake`" "`fuse_ops.cc`"
        "LruCache::Retire")
  string(FIND "${err}" "${right}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "check_map.py refused ${right}, which exists:\n${err}")
  endif()
endforeach()
message(STATUS "check_map.py refused exactly the three wrong names")
