// What czifs reports about one CZI, as functions of the parsed file, its
// index, metadata and catalogue: info.json (and `czifs inspect --json`),
// the text of `czifs inspect`, and planetable.csv.
//
// Thread-safety: pure functions of immutable inputs.
#pragma once

#include <functional>
#include <string>

#include "czifs/catalog.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/metadata.h"

namespace czifs {

// The parts of one parsed CZI a report reads.
struct ReportInput {
  const CziFile& czi;
  const ImageIndex& index;
  const ImageMetadata& metadata;
  const Catalog& catalog;
};

// info.json: dimensions, scenes, pixel types, compression, pyramid, tiles,
// calibration, channels, attachments, hyperstacks, planes, problems.
std::string InfoJson(const ReportInput& in);
// The same as readable text.
std::string InfoText(const ReportInput& in);
// planetable.csv: one row per layer-0 subblock, czitools' columns plus the
// file each subblock is served in; reads every subblock's header (not its
// pixels).
// Subblock headers are read by up to 8 threads, one per `rows_per_thread`
// subblocks of the directory (tests lower it).
inline constexpr uint32_t kPlaneTableRowsPerThread = 65536;
Result<std::string> PlaneTableCsv(const ReportInput& in,
                                  uint32_t rows_per_thread = kPlaneTableRowsPerThread);
// The same text in pieces of about 1 MiB, each handed to `chunk` as it is
// made (a file of millions of subblocks: tens of MB, never held twice).
Status WritePlaneTableCsv(const ReportInput& in, const std::function<void(std::string)>& chunk,
                          uint32_t rows_per_thread = kPlaneTableRowsPerThread);

// Returns the shortest text that reads back as `v` ("0.5", "12.0").
std::string FormatDouble(double v);

}  // namespace czifs
