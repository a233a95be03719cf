// Built as a test of catalog would be: tree's private header (src/tree/) is
// not on its include path, and catalog does not reach tree at all.
#include "data_window.h"
