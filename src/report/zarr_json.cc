// The JSON files of an OME-Zarr image (OME-NGFF 0.4 on Zarr v2): .zgroup,
// .zattrs (multiscales, omero) and each level's .zarray; and those of the
// bioformats2raw layout that makes the CZI's folder the images' root.
#include "czifs/zarr_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace czifs {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

bool Calibrated(const ImageMetadata& md) { return md.scale_x_um && md.scale_y_um; }

// Zarr v2's dtype of one sample: "|u1", "<u2", "<f4", ...
std::string Dtype(int32_t pixel_type) {
  const int bytes = BytesPerSample(pixel_type);
  const char kind = IsFloatPixelType(pixel_type) ? 'f' : 'u';
  return std::string(bytes == 1 ? "|" : "<") + kind + std::to_string(bytes);
}

// The sample value range of a gray pixel type, for omero's window.
std::pair<double, double> FullRange(int32_t pixel_type) {
  if (IsFloatPixelType(pixel_type)) return {0.0, 1.0};
  const int bits = 8 * BytesPerSample(pixel_type);
  return {0.0, bits >= 64 ? 1.8446744073709552e19 : static_cast<double>((1ull << bits) - 1)};
}

std::string Hex(uint32_t rgb) {
  static const char* digits = "0123456789ABCDEF";
  std::string s(6, '0');
  for (int i = 5; i >= 0; --i, rgb >>= 4) s[static_cast<size_t>(i)] = digits[rgb & 15];
  return s;
}

Json Axes(const ReportInput& in) {
  Json t = {{"name", "t"}, {"type", "time"}};
  if (in.catalog.frame_timing().interval_s) t["unit"] = "second";
  Json z = {{"name", "z"}, {"type", "space"}};
  Json y = {{"name", "y"}, {"type", "space"}};
  Json x = {{"name", "x"}, {"type", "space"}};
  if (in.metadata.scale_z_um) z["unit"] = "micrometer";
  if (Calibrated(in.metadata)) {
    y["unit"] = "micrometer";
    x["unit"] = "micrometer";
  }
  return Json::array({t, {{"name", "c"}, {"type", "channel"}}, z, y, x});
}

// A number JSON reads, always 16 characters wide (a space for a plus sign).
std::string FixedWidth(double v) {
  std::string s = fmt::format("{:.8e}", v);
  if (s[0] != '-') s.insert(s.begin(), ' ');
  s.resize(16, ' ');
  return s;
}

// omero: each channel's name, colour and display window; colour images
// get one entry per sample (red, green, blue, alpha). Float images' windows
// are placeholders ("@w<k>start@" ...) that ZarrAttrsJson fills at a fixed width.
Json Omero(const ReportInput& in, const ZarrImage& image) {
  Json channels = Json::array();
  const int32_t sample_type = image.samples > 1 ? -1 : image.pixel_type;
  static const char* kSampleNames[] = {"R", "G", "B", "A"};
  static const uint32_t kSampleColors[] = {0xFF0000, 0x00FF00, 0x0000FF, 0xFFFFFF};
  for (uint32_t c = 0; c < image.channels; ++c) {
    const ChannelInfo* ch =
        ChannelOf(in.index, in.metadata, in.index.planes()[image.channel_planes[c]]);
    for (uint32_t s = 0; s < image.samples; ++s) {
      std::string label = ch && !ch->name.empty() ? ch->name : "C" + std::to_string(c);
      if (image.samples > 1) label += std::string(" ") + kSampleNames[s];
      const auto [lo, hi] = FullRange(sample_type >= 0 ? sample_type : image.pixel_type);
      std::pair<double, double> shown{lo, hi};
      if (const auto range =
              ch && sample_type >= 0 ? DisplayRange(*ch, sample_type) : std::nullopt) {
        shown = *range;
      }
      uint32_t rgb = image.samples > 1 ? kSampleColors[s] : 0xFFFFFF;
      if (const auto color = ch && image.samples == 1 ? ParseColor(ch->color) : std::nullopt) {
        rgb = *color;
      }
      Json window = {{"min", lo}, {"max", hi}, {"start", shown.first}, {"end", shown.second}};
      if (WindowFromData(image)) {
        const std::string k = std::to_string(channels.size());
        for (const char* key : {"min", "max", "start", "end"}) {
          window[key] = "@w" + k + key + "@";
        }
      }
      channels.push_back({{"label", label},
                          {"color", Hex(rgb)},
                          // Bgra32's alpha is listed but inactive: a viewer blends R, G, B only.
                          {"active", !(image.samples == 4 && s == 3)},
                          {"window", std::move(window)}});
    }
  }
  return {{"name", ZarrDisplayName(in, image)},
          {"version", "0.4"},
          {"channels", std::move(channels)},
          {"rdefs", {{"model", "color"}}}};
}

}  // namespace

std::vector<double> ZarrScale(const ReportInput& in, const ZarrLevel& level) {
  const double f = static_cast<double>(level.factor);
  const ImageMetadata& md = in.metadata;
  return {in.catalog.frame_timing().interval_s.value_or(1.0), 1.0, md.scale_z_um.value_or(1.0),
          Calibrated(md) ? *md.scale_y_um * f : f, Calibrated(md) ? *md.scale_x_um * f : f};
}

std::vector<int64_t> ZarrShape(const ZarrImage& image, const ZarrLevel& level) {
  return {image.frames, int64_t{image.channels} * image.samples, image.slices, level.height,
          level.width};
}

std::vector<int64_t> ZarrChunks(const ZarrLevel& level) {
  return {1, 1, level.chunk_depth, level.chunk_height, level.chunk_width};
}

std::string ZarrGroupJson() { return Dump({{"zarr_format", 2}}); }

std::vector<uint32_t> SeriesImages(const Catalog& catalog) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < catalog.zarr_images().size(); ++i) {
    const ZarrImage& image = catalog.zarr_images()[i];
    if (image.unsupported.empty() && !image.levels.empty()) out.push_back(i);
  }
  return out;
}

std::string Bioformats2RawAttrsJson() { return Dump({{"bioformats2raw.layout", 3}}); }

std::string OmeSeriesJson(const ReportInput& in) {
  Json series = Json::array();
  for (uint32_t i : SeriesImages(in.catalog)) series.push_back(in.catalog.zarr_images()[i].name);
  return Dump({{"series", std::move(series)}});
}

std::string OmeMetadataXml(const ReportInput& in) {
  return in.catalog.OmeXml(SeriesImages(in.catalog), /*tiff_data=*/false);
}

std::string ZarrDisplayName(const ReportInput& in, const ZarrImage& image) {
  const std::string& path = in.czi.path();
  return path.substr(path.find_last_of('/') + 1) + " " + in.catalog.OmeName(image);
}

std::string ZarrArrayJson(const ZarrImage& image, const ZarrLevel& level) {
  Json j;
  j["zarr_format"] = 2;
  j["shape"] = ZarrShape(image, level);
  j["chunks"] = ZarrChunks(level);
  j["dtype"] = Dtype(image.pixel_type);
  j["compressor"] = nullptr;
  j["fill_value"] = 0;
  j["order"] = "C";
  j["filters"] = nullptr;
  j["dimension_separator"] = "/";
  return Dump(j);
}

bool WindowFromData(const ZarrImage& image) { return IsFloatPixelType(image.pixel_type); }

std::string ZarrAttrsJson(const ReportInput& in, const ZarrImage& image,
                          const std::vector<std::pair<double, double>>* sample_ranges) {
  // Where ZEN places the scene: its top-left corner in the file's pixel
  // coordinates, times the pixel size (the same at every level), so
  // scenes opened together sit where they were acquired.
  const Rect& box = in.index.scenes()[image.scene].bbox;
  const ImageMetadata& md = in.metadata;
  const std::vector<double> translation = {
      0.0, 0.0, 0.0, static_cast<double>(box.y) * (Calibrated(md) ? *md.scale_y_um : 1.0),
      static_cast<double>(box.x) * (Calibrated(md) ? *md.scale_x_um : 1.0)};
  Json datasets = Json::array();
  for (const ZarrLevel& level : image.levels) {
    datasets.push_back({{"path", level.path},
                        {"coordinateTransformations",
                         Json::array({{{"type", "scale"}, {"scale", ZarrScale(in, level)}},
                                      {{"type", "translation"}, {"translation", translation}}})}});
  }
  Json multiscale = {{"version", "0.4"},
                     {"name", ZarrDisplayName(in, image)},
                     {"axes", Axes(in)},
                     {"datasets", std::move(datasets)}};
  Json j;
  j["multiscales"] = Json::array({std::move(multiscale)});
  j["omero"] = Omero(in, image);
  std::string text = Dump(j);
  // Float windows: the data's range, at a fixed width.
  for (size_t k = 0; WindowFromData(image) && k < image.channels * image.samples; ++k) {
    const auto range =
        sample_ranges && k < sample_ranges->size() ? (*sample_ranges)[k] : std::make_pair(0.0, 0.0);
    for (const char* key : {"min", "max", "start", "end"}) {
      const std::string placeholder = "\"@w" + std::to_string(k) + key + "@\"";
      const size_t at = text.find(placeholder);
      if (at == std::string::npos) continue;
      const bool low = key[0] == 'm' ? key[1] == 'i' : key[0] == 's';
      text.replace(at, placeholder.size(), FixedWidth(low ? range.first : range.second));
    }
  }
  return text;
}

namespace {

// "A".."Z", "AA".. as plates name their rows.
std::string RowName(uint32_t r) {
  std::string name;
  for (uint32_t n = r + 1; n > 0; n = (n - 1) / 26) name.insert(name.begin(), 'A' + (n - 1) % 26);
  return name;
}

}  // namespace

std::optional<PlateLayout> FindPlate(const ReportInput& in) {
  const ImageMetadata& md = in.metadata;
  if (!md.plate_rows || !md.plate_columns) return std::nullopt;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint32_t>> wells;  // by (row, column)
  for (uint32_t i : SeriesImages(in.catalog)) {
    const ZarrImage& image = in.catalog.zarr_images()[i];
    if (image.suffix != 0) continue;  // one image a field: the scene's first
    const int32_t s = in.index.scenes()[image.scene].index;
    for (const SceneInfo& info : md.scenes) {
      if (static_cast<int32_t>(info.index) != s || !info.well_row || !info.well_column) continue;
      if (*info.well_row > *md.plate_rows || *info.well_column > *md.plate_columns) continue;
      wells[{*info.well_row - 1, *info.well_column - 1}].push_back(i);
    }
  }
  if (wells.empty()) return std::nullopt;
  PlateLayout plate;
  for (uint32_t r = 0; r < *md.plate_rows; ++r) plate.rows.push_back(RowName(r));
  for (uint32_t c = 0; c < *md.plate_columns; ++c) plate.columns.push_back(std::to_string(c + 1));
  for (auto& [at, images] : wells) plate.wells.push_back({at.first, at.second, std::move(images)});
  return plate;
}

std::string PlateAttrsJson(const ReportInput& in, const PlateLayout& plate) {
  Json rows = Json::array(), columns = Json::array(), wells = Json::array();
  for (const std::string& r : plate.rows) rows.push_back({{"name", r}});
  for (const std::string& c : plate.columns) columns.push_back({{"name", c}});
  size_t fields = 0;
  for (const PlateWell& w : plate.wells) {
    wells.push_back({{"path", plate.rows[w.row] + "/" + plate.columns[w.column]},
                     {"rowIndex", w.row},
                     {"columnIndex", w.column}});
    fields = std::max(fields, w.images.size());
  }
  const std::string& path = in.czi.path();
  return Dump({{"plate",
                {{"version", "0.4"},
                 {"name", path.substr(path.find_last_of('/') + 1)},
                 {"rows", std::move(rows)},
                 {"columns", std::move(columns)},
                 {"wells", std::move(wells)},
                 {"field_count", fields}}}});
}

std::string WellAttrsJson(const PlateWell& well) {
  Json images = Json::array();
  for (size_t f = 0; f < well.images.size(); ++f) images.push_back({{"path", std::to_string(f)}});
  return Dump({{"well", {{"version", "0.4"}, {"images", std::move(images)}}}});
}

}  // namespace czifs
