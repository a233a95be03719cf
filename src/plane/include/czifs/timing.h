// When a file's time points were taken: the frame interval ImageJ and
// info.json show, and where it was read.
//
// Thread-safety: pure function (reads the file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/metadata.h"

namespace czifs {

struct FrameTiming {
  uint32_t frames = 1;               // time points (the T dimension's size)
  std::optional<double> interval_s;  // seconds from one time point to the next
  // Where the interval comes from ("ZEN's time series interval", "the
  // TimeStamps attachment", "the T dimension's offsets", "the subblocks'
  // acquisition times"), or why there is none ("one time point", "no
  // timing recorded").
  std::string source;
};

// The interval, first found of: ZEN's (metadata, when above 0), the mean
// step of the TimeStamps attachment, of the T offsets in the metadata, of
// the acquisition times of the first and last time point's first subblock.
// Never invented: a file with one time point, or none of these, has none.
FrameTiming FindFrameTiming(const CziFile& czi, const ImageIndex& index,
                            const ImageMetadata& metadata);

// The seconds of a TimeStamps attachment ("CZTIMS": int32 size, int32
// count, count doubles), or nullopt if `data` is not one.
std::optional<std::vector<double>> ParseTimeStamps(const std::vector<uint8_t>& data);

}  // namespace czifs
