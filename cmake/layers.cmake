# The module graph. Each module is its own static library (src/<m>/, public
# headers in src/<m>/include/czifs/) and names here the modules it may use:
# PUBLIC where its public headers include theirs (whoever uses it sees them
# too), PRIVATE where only its sources do. Modules that do not use each other
# are unranked. czifs_check_graph() refuses a use of an undeclared module and
# a cycle; czifs_module() links exactly what is declared, so a module (or a
# module's tests) including the header of one it does not use fails to
# compile (ctest build.graph_*). scripts/code_shape.py checks that every
# `#include "czifs/..."` in src/<m>/ names m or a module m declares, and that
# docs/architecture.md draws this same graph.
include(${CMAKE_CURRENT_LIST_DIR}/module_graph.cmake)  # czifs_uses, czifs_check_graph
czifs_uses(util)
czifs_uses(io PUBLIC util)
czifs_uses(czi PUBLIC io util)
czifs_uses(codec PUBLIC util PRIVATE czi)
czifs_uses(plane PUBLIC codec czi io util)
czifs_uses(tiff PUBLIC util PRIVATE czi)
czifs_uses(catalog PUBLIC plane tiff czi util)
czifs_uses(reader PUBLIC catalog plane util)
czifs_uses(report PUBLIC catalog plane czi)
czifs_uses(tree PUBLIC report reader catalog plane czi util)
czifs_uses(live PUBLIC tree plane io util)
czifs_uses(export PUBLIC tree plane PRIVATE live util)
czifs_uses(fuse PUBLIC live util PRIVATE plane)
czifs_uses(mount PUBLIC live tree plane PRIVATE fuse io util)
czifs_uses(cli PRIVATE mount export tree tiff codec util)
czifs_check_graph()
