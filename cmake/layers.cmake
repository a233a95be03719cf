# Modules, lowest first: each is its own library, may link only modules
# before it in this list (czifs_check_layers refuses anything else at
# configure time), and sees only the headers of what it links
# (src/<m>/include). docs/architecture.md draws the same order.
set(CZIFS_LAYERS util io czi codec plane tiff catalog reader report tree live export fuse cli)

# Stops the configuration if module `name` is not in CZIFS_LAYERS or one of
# the modules after it may not be linked from it (not below it).
function(czifs_check_layers name)
  list(FIND CZIFS_LAYERS ${name} own)
  if(own EQUAL -1)
    message(FATAL_ERROR "czifs_module(${name}): not in CZIFS_LAYERS")
  endif()
  foreach(dep ${ARGN})
    list(FIND CZIFS_LAYERS ${dep} layer)
    if(layer EQUAL -1 OR NOT layer LESS own)
      message(FATAL_ERROR "czifs_module(${name}): may not depend on '${dep}', which is not "
                          "below it in CZIFS_LAYERS (${CZIFS_LAYERS})")
    endif()
  endforeach()
endfunction()
