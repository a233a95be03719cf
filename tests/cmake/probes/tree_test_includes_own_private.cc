// Built as a test of tree would be: a module's tests see its private
// headers (the control for catalog_test_includes_tree_private.cc).
#include "data_window.h"
