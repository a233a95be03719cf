// Built as a source of plane would be: plane does not use catalog, so its
// header is not on the include path and this must not compile.
#include "czifs/catalog.h"
