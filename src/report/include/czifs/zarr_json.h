// The JSON files of an OME-Zarr image (OME-NGFF 0.4 on Zarr v2): .zgroup,
// .zattrs (multiscales with axes t, c, z, y, x and their units, a scale per
// level; omero channels) and each level's .zarray (raw chunks, no compressor).
//
// Thread-safety: pure functions of immutable inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "czifs/report.h"

namespace czifs {

std::string ZarrGroupJson();
// The bioformats2raw layout (NGFF 0.4's transitional `bioformats2raw.layout`
// 3) that makes a CZI's folder a zarr root of its images: the root's
// .zattrs, OME/.zattrs naming the images (`series`) and OME/METADATA.ome.xml
// (all of them, in that order). The images that have levels, in order.
std::vector<uint32_t> SeriesImages(const Catalog& catalog);
std::string Bioformats2RawAttrsJson();
std::string OmeSeriesJson(const ReportInput& in);
std::string OmeMetadataXml(const ReportInput& in);
// An NGFF plate of the OME-Zarr images, where ZEN's metadata places the
// scenes in wells of a plate (ShapeRows/ShapeColumns and each scene's
// Shape): rows "A".., columns "1".., the wells that hold a scene, each
// well's fields (its scenes' images, by scene index).
struct PlateWell {
  uint32_t row = 0, column = 0;  // 0-based
  std::vector<uint32_t> images;  // positions in zarr_images(), one per field
};
struct PlateLayout {
  std::vector<std::string> rows, columns;
  std::vector<PlateWell> wells;  // sorted by row, then column
};
// The plate, or nullopt when the file places no scene's image in a well.
std::optional<PlateLayout> FindPlate(const ReportInput& in);
std::string PlateAttrsJson(const ReportInput& in, const PlateLayout& plate);
std::string WellAttrsJson(const PlateWell& well);

// The name viewers show for `image`: the file, the image, ZEN's scene name
// ("run42.czi S1 D6").
std::string ZarrDisplayName(const ReportInput& in, const ZarrImage& image);
std::string ZarrArrayJson(const ZarrImage& image, const ZarrLevel& level);
// `sample_ranges`: for float images, each zarr channel's (min, max) of its
// data, the omero window (written at a fixed width, so the file's size is
// known before the data is read: FloatAttrsSize); null: (0, 0) there.
std::string ZarrAttrsJson(const ReportInput& in, const ZarrImage& image,
                          const std::vector<std::pair<double, double>>* sample_ranges = nullptr);
// Whether `image`'s omero window comes from its data (float images).
bool WindowFromData(const ZarrImage& image);
// [T, C x samples, Z, height, width] of `level`.
std::vector<int64_t> ZarrShape(const ZarrImage& image, const ZarrLevel& level);
// [1, 1, 1, chunk height, chunk width] of `level`.
std::vector<int64_t> ZarrChunks(const ZarrLevel& level);
// Size of one array element along t, c, z, y, x: seconds between frames,
// 1, micrometres (or 1 where the file has no calibration).
std::vector<double> ZarrScale(const ReportInput& in, const ZarrLevel& level);

}  // namespace czifs
