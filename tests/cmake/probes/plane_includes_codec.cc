// Built as a source of plane would be: plane uses codec, so this compiles
// (the control for plane_includes_catalog.cc).
#include "czifs/codec.h"
