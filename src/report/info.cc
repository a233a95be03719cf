// info.json and the text of `czifs inspect`: one summary, two renderings.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "czifs/report.h"
#include "czifs/zarr_json.h"

namespace czifs {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::array<Dim, kDimCount> kReportOrder = {Dim::kS, Dim::kT, Dim::kC, Dim::kZ,
                                                     Dim::kM, Dim::kH, Dim::kI, Dim::kR,
                                                     Dim::kV, Dim::kB, Dim::kA};

std::string BaseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

Json Dimensions(const ImageIndex& idx) {
  Json dims = Json::object();
  for (Dim d : kReportOrder) {
    const DimBounds& b = idx.bounds(d);
    if (b.present) dims[std::string(1, DimLetter(d))] = {{"start", b.start}, {"size", b.size}};
  }
  return dims;
}

Json Scenes(const ImageIndex& idx) {
  Json scenes = Json::array();
  for (const Scene& s : idx.scenes()) {
    scenes.push_back({{"S", s.index},
                      {"folder", idx.IndexName(Dim::kS, s.index)},
                      {"x", s.bbox.x},
                      {"y", s.bbox.y},
                      {"width", s.bbox.width},
                      {"height", s.bbox.height}});
  }
  return scenes;
}

// The folders under pyramid/ (levels with at least one servable plane) and
// the count of servable tiles.
void PyramidAndTiles(const ReportInput& in, Json* j) {
  const ImageIndex& idx = in.index;
  (*j)["pyramid_levels"] = idx.pyramid_factors().size();
  (*j)["pyramid_factors"] = idx.pyramid_factors();
  Json pyramid = Json::array();
  for (uint32_t level : in.catalog.ServedPyramidLevels()) {
    pyramid.push_back({{"level", level},
                       {"factor", idx.pyramid_factors()[level - 1]},
                       {"folder", fmt::format("pyramid/L{}", level)}});
  }
  (*j)["pyramid"] = std::move(pyramid);
  (*j)["tiles"] = in.catalog.TileCount();
}

Json Calibration(const ImageMetadata& md) {
  auto value = [](const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); };
  return {{"x", value(md.scale_x_um)}, {"y", value(md.scale_y_um)}, {"z", value(md.scale_z_um)}};
}

// {"frames": 3, "interval_s": 60, "source": "ZEN's time series interval"};
// interval_s is null when there is none, and source says why.
Json Time(const FrameTiming& t) {
  return {{"frames", t.frames},
          {"interval_s", t.interval_s ? Json(*t.interval_s) : Json(nullptr)},
          {"source", t.source}};
}

Json Channels(const ImageMetadata& md) {
  Json channels = Json::array();
  for (size_t c = 0; c < md.channels.size(); ++c) {
    channels.push_back(
        {{"index", c}, {"name", md.channels[c].name}, {"color", md.channels[c].color}});
  }
  return channels;
}

// One entry per scene: its hyperstack file, or why it has none.
Json Hyperstacks(const ReportInput& in) {
  Json stacks = Json::array();
  for (uint32_t s = 0; s < in.index.scenes().size(); ++s) {
    auto described = in.catalog.Describe({TiffKind::kHyperstack, s});
    ServedTiff st;
    if (described.ok()) {
      st = std::move(described).value();
    } else {
      st.unsupported = described.status().message();
    }
    Json e = {{"scene", in.index.scenes()[s].index}};
    if (st.unsupported.empty()) {
      e["file"] = st.path;
      e["channels"] = st.channels;
      e["slices"] = st.slices;
      e["frames"] = st.frames;
    } else {
      e["unavailable"] = st.unsupported;
    }
    stacks.push_back(std::move(e));
  }
  return stacks;
}

// One entry per OME-Zarr image: its folder, shape and scale per level, or
// why the scene has none.
Json ZarrImages(const ReportInput& in) {
  Json images = Json::array();
  for (const ZarrImage& img : in.catalog.zarr_images()) {
    Json e = {{"scene", in.index.scenes()[img.scene].index}, {"name", img.name}};
    if (!img.unsupported.empty()) {
      e["unavailable"] = img.unsupported;
    } else {
      Json levels = Json::array();
      for (size_t i = 0; i < img.levels.size(); ++i) {
        const ZarrLevel& l = img.levels[i];
        // Where its pixels come from: "planes", "pyramid/L2" (the file's
        // own level) or "mean of 1" (2x2 means of the level above).
        const std::string source = l.halvings > 0  ? "mean of " + img.levels[i - 1].path
                                   : l.pyramid > 0 ? "pyramid/L" + std::to_string(l.pyramid)
                                                   : std::string("planes");
        levels.push_back({{"path", l.path},
                          {"shape", ZarrShape(img, l)},
                          {"chunks", ZarrChunks(l)},
                          {"scale", ZarrScale(in, l)},
                          {"source", source}});
      }
      e["axes"] = "tczyx";
      e["levels"] = std::move(levels);
    }
    images.push_back(std::move(e));
  }
  return images;
}

void Planes(const ImageIndex& idx, Json* j) {
  uint64_t served = 0, empty = 0;
  Json unsupported = Json::array();
  for (const Plane& p : idx.planes()) {
    if (p.unsupported.empty()) ++served;
    if (p.subblocks.empty()) ++empty;
    if (!p.unsupported.empty()) {
      unsupported.push_back({{"plane", PlanePath(idx, p)}, {"reason", p.unsupported}});
    }
  }
  (*j)["planes"] = served;
  (*j)["empty_planes"] = empty;
  (*j)["unsupported"] = std::move(unsupported);
}

}  // namespace

std::string FormatDouble(double v) {
  if (!std::isfinite(v)) return "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string InfoJson(const ReportInput& in) {
  const CziFile& czi = in.czi;
  const ImageIndex& idx = in.index;
  Json j;
  j["file"] = BaseName(czi.path());
  j["file_size"] = czi.file_size();
  j["format_version"] = fmt::format("{}.{}", czi.header().major, czi.header().minor);
  j["dimensions"] = Dimensions(idx);
  j["scenes"] = Scenes(idx);
  Json types = Json::array();
  for (int32_t t : idx.pixel_types()) types.push_back(PixelTypeName(t));
  j["pixel_types"] = std::move(types);
  Json compression = Json::object();
  for (const auto& [c, n] : idx.compression_counts()) compression[CompressionName(c)] = n;
  j["compression"] = std::move(compression);
  j["subblocks"] = czi.subblocks().size();
  j["layer0_subblocks"] = idx.layer0_subblock_count();
  PyramidAndTiles(in, &j);
  j["pixel_size_um"] = Calibration(in.metadata);
  j["time"] = Time(in.catalog.frame_timing());
  j["channels"] = Channels(in.metadata);
  j["acquisition_date"] = in.metadata.acquisition_date;
  Json attachments = Json::array();
  for (const AttachmentEntry& a : czi.attachments()) {
    attachments.push_back({{"name", a.name}, {"type", a.content_type}});
  }
  j["attachments"] = std::move(attachments);
  j["hyperstacks"] = Hyperstacks(in);
  j["zarr"] = ZarrImages(in);
  Planes(idx, &j);
  if (!in.metadata.warning.empty()) j["metadata_warning"] = in.metadata.warning;
  // Names and strings read from the file may hold invalid UTF-8: replace it.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string InfoText(const ReportInput& in) {
  const ImageIndex& idx = in.index;
  const CziFile& czi = in.czi;
  const ImageMetadata& md = in.metadata;
  std::ostringstream o;
  o << czi.path() << "\n";
  o << "  file size     " << czi.file_size() << " bytes, CZI " << czi.header().major << "."
    << czi.header().minor << "\n";
  o << "  dimensions   ";
  for (Dim d : kReportOrder) {
    const DimBounds& b = idx.bounds(d);
    if (!b.present) continue;
    o << " " << DimLetter(d) << "=" << b.size;
    if (b.start != 0) o << " (from " << b.start << ")";
  }
  o << "\n  pixel types  ";
  for (int32_t t : idx.pixel_types()) o << " " << PixelTypeName(t);
  o << "\n  compression  ";
  for (const auto& [c, n] : idx.compression_counts()) o << " " << CompressionName(c) << " x" << n;
  o << "\n  subblocks     " << czi.subblocks().size() << " (" << idx.layer0_subblock_count()
    << " full resolution)\n";
  o << "  pyramid       ";
  if (idx.pyramid_factors().empty()) {
    o << "none";
  } else {
    o << idx.pyramid_factors().size() << " level(s), downscale";
    for (uint32_t f : idx.pyramid_factors()) o << " " << f;
    o << " (pyramid/L1";
    if (idx.pyramid_factors().size() > 1) o << "..L" << idx.pyramid_factors().size();
    o << ")";
  }
  o << "\n  pixel size    ";
  auto um = [&](const std::optional<double>& v) { return v ? FormatDouble(*v) + " µm" : "?"; };
  o << "x " << um(md.scale_x_um) << ", y " << um(md.scale_y_um) << ", z " << um(md.scale_z_um)
    << "\n";
  const FrameTiming& time = in.catalog.frame_timing();
  o << "  time          " << time.frames << " time point(s)";
  if (time.interval_s) o << fmt::format(", {:.6g} s apart", *time.interval_s);
  o << " (" << time.source << ")\n";
  o << "  channels      ";
  if (md.channels.empty()) o << "(no names in metadata)";
  for (size_t c = 0; c < md.channels.size(); ++c) {
    o << (c ? ", " : "") << c << ": " << (md.channels[c].name.empty() ? "?" : md.channels[c].name);
  }
  o << "\n  scenes        " << idx.scenes().size() << "\n";
  for (const Scene& s : idx.scenes()) {
    o << "    " << idx.IndexName(Dim::kS, s.index) << "  x=" << s.bbox.x << " y=" << s.bbox.y << " "
      << s.bbox.width << "x" << s.bbox.height << "\n";
  }
  o << "  attachments   " << czi.attachments().size() << "\n";
  for (const AttachmentEntry& a : czi.attachments()) {
    o << "    " << a.name << " (" << a.content_type << ")\n";
  }
  uint64_t served = 0, empty = 0;
  for (const Plane& p : idx.planes()) {
    if (p.unsupported.empty()) ++served;
    if (p.subblocks.empty()) ++empty;
  }
  o << "  planes        " << served;
  if (empty) o << " (" << empty << " without subblocks: all zeros)";
  o << "\n";
  for (const Plane& p : idx.planes()) {
    if (!p.unsupported.empty()) {
      o << "  unsupported   " << PlanePath(idx, p) << ": " << p.unsupported << "\n";
    }
  }
  if (!md.warning.empty()) o << "  warning       " << md.warning << "\n";
  // What the parsed file holds in memory (a mount holds this per file it
  // keeps parsed, plus its folders listed so far).
  const SubblockTable::Bytes dir = czi.subblocks().MemoryBytes();
  const auto mib = [](uint64_t b) {
    return fmt::format("{:.1f}", static_cast<double>(b) / 1048576);
  };
  o << "  parsed        " << mib(dir.total() + idx.MemoryBytes() + in.catalog.MemoryBytes())
    << " MiB (directory " << mib(dir.total()) << ": entries " << mib(dir.entries)
    << ", coordinates " << mib(dir.coordinates) << ", other " << mib(dir.other) << "; index "
    << mib(idx.MemoryBytes()) << "; catalogue " << mib(in.catalog.MemoryBytes()) << ")\n";
  return o.str();
}

}  // namespace czifs
