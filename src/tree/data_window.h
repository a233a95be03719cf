// The `.zattrs` of a float OME-Zarr image: its omero windows are the data's
// range (ZEN's display fractions have no scale for float pixels), read from
// the smallest level of the first time point's middle Z plane when the
// file is first read; its size is known before (the numbers have a fixed
// width), so `ls -l` and `stat` read no pixel.
#pragma once

#include <memory>

#include "czifs/czi_document.h"
#include "czifs/tree.h"

namespace czifs {

std::shared_ptr<VirtualFile> MakeDataWindowAttrs(std::shared_ptr<const CziDocument> doc,
                                                 uint32_t image);

}  // namespace czifs
