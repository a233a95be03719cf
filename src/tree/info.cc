// info.json and the text of `czifs inspect`: one summary, two renderings.
#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "czifs/czi_document.h"
#include "json_writer.h"

namespace czifs {
namespace {

constexpr std::array<Dim, kDimCount> kReportOrder = {Dim::kS, Dim::kT, Dim::kC, Dim::kZ,
                                                     Dim::kM, Dim::kH, Dim::kI, Dim::kR,
                                                     Dim::kV, Dim::kB, Dim::kA};

std::string BaseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

}  // namespace

std::string CziDocument::InfoJson() const {
  const ImageIndex& idx = index_;
  JsonWriter j;
  j.BeginObject();
  j.Key("file").String(BaseName(czi_->path()));
  j.Key("file_size").Int(static_cast<int64_t>(czi_->file_size()));
  j.Key("format_version").String(std::to_string(czi_->header().major) + "." +
                                 std::to_string(czi_->header().minor));
  j.Key("dimensions").BeginObject();
  for (Dim d : kReportOrder) {
    const DimBounds& b = idx.bounds(d);
    if (!b.present) continue;
    j.Key(std::string(1, DimLetter(d))).BeginObject();
    j.Key("start").Int(b.start).Key("size").Int(b.size).EndObject();
  }
  j.EndObject();
  j.Key("scenes").BeginArray();
  for (const Scene& s : idx.scenes()) {
    j.BeginObject();
    j.Key("S").Int(s.index).Key("folder").String(idx.IndexName(Dim::kS, s.index));
    j.Key("x").Int(s.bbox.x).Key("y").Int(s.bbox.y);
    j.Key("width").Int(s.bbox.width).Key("height").Int(s.bbox.height);
    j.EndObject();
  }
  j.EndArray();
  j.Key("pixel_types").BeginArray();
  for (int32_t t : idx.pixel_types()) j.String(PixelTypeName(t));
  j.EndArray();
  j.Key("compression").BeginObject();
  for (const auto& [c, n] : idx.compression_counts()) j.Key(CompressionName(c)).Int(n);
  j.EndObject();
  j.Key("subblocks").Int(static_cast<int64_t>(czi_->subblocks().size()));
  j.Key("layer0_subblocks").Int(idx.layer0_subblock_count());
  j.Key("pyramid_levels").Int(static_cast<int64_t>(idx.pyramid_factors().size()));
  j.Key("pyramid_factors").BeginArray();
  for (uint32_t f : idx.pyramid_factors()) j.Int(f);
  j.EndArray();
  // The folders under pyramid/: only levels with at least one servable plane.
  j.Key("pyramid").BeginArray();
  std::set<uint32_t> levels;
  for (const Image& img : images_) {
    if (img.kind == Image::Kind::kPyramid && img.unsupported.empty()) levels.insert(img.level);
  }
  for (uint32_t level : levels) {
    j.BeginObject().Key("level").Int(level);
    j.Key("factor").Int(idx.pyramid_factors()[level - 1]);
    j.Key("folder").String("pyramid/L" + std::to_string(level)).EndObject();
  }
  j.EndArray();
  j.Key("tiles").Int(static_cast<int64_t>(std::count_if(images_.begin(), images_.end(), [](const Image& img) {
    return img.kind == Image::Kind::kTile && img.unsupported.empty();
  })));
  j.Key("pixel_size_um").BeginObject();
  auto opt = [&](const char* k, const std::optional<double>& v) {
    j.Key(k);
    if (v) j.Double(*v); else j.Null();
  };
  opt("x", metadata_.scale_x_um);
  opt("y", metadata_.scale_y_um);
  opt("z", metadata_.scale_z_um);
  j.EndObject();
  j.Key("channels").BeginArray();
  for (size_t c = 0; c < metadata_.channels.size(); ++c) {
    j.BeginObject().Key("index").Int(static_cast<int64_t>(c));
    j.Key("name").String(metadata_.channels[c].name);
    j.Key("color").String(metadata_.channels[c].color).EndObject();
  }
  j.EndArray();
  j.Key("acquisition_date").String(metadata_.acquisition_date);
  j.Key("attachments").BeginArray();
  for (const AttachmentEntry& a : czi_->attachments()) {
    j.BeginObject().Key("name").String(a.name).Key("type").String(a.content_type).EndObject();
  }
  j.EndArray();
  // One entry per scene: its hyperstack file, or why it has none.
  j.Key("hyperstacks").BeginArray();
  for (uint32_t s = 0; s < idx.scenes().size(); ++s) {
    const SceneStack& st = *stacks_[s];
    j.BeginObject().Key("scene").Int(idx.scenes()[s].index);
    if (st.unavailable.empty()) {
      j.Key("file").String(idx.IndexName(Dim::kS, idx.scenes()[s].index) + "/hyperstack.tif");
      j.Key("channels").Int(st.channels).Key("slices").Int(st.slices).Key("frames").Int(st.frames);
    } else {
      j.Key("unavailable").String(st.unavailable);
    }
    j.EndObject();
  }
  j.EndArray();
  uint64_t served = 0, empty = 0;
  for (const Plane& p : idx.planes()) {
    if (p.unsupported.empty()) ++served;
    if (p.subblocks.empty()) ++empty;
  }
  j.Key("planes").Int(static_cast<int64_t>(served));
  j.Key("empty_planes").Int(static_cast<int64_t>(empty));
  j.Key("unsupported").BeginArray();
  for (const Plane& p : idx.planes()) {
    if (p.unsupported.empty()) continue;
    j.BeginObject().Key("plane").String(p.path).Key("reason").String(p.unsupported).EndObject();
  }
  j.EndArray();
  if (!metadata_.warning.empty()) j.Key("metadata_warning").String(metadata_.warning);
  j.EndObject();
  return j.Take();
}

std::string CziDocument::InfoText() const {
  const ImageIndex& idx = index_;
  std::ostringstream o;
  o << czi_->path() << "\n";
  o << "  file size     " << czi_->file_size() << " bytes, CZI " << czi_->header().major << "."
    << czi_->header().minor << "\n";
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
  o << "\n  subblocks     " << czi_->subblocks().size() << " (" << idx.layer0_subblock_count()
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
  o << "x " << um(metadata_.scale_x_um) << ", y " << um(metadata_.scale_y_um) << ", z "
    << um(metadata_.scale_z_um) << "\n";
  o << "  channels      ";
  if (metadata_.channels.empty()) o << "(no names in metadata)";
  for (size_t c = 0; c < metadata_.channels.size(); ++c) {
    o << (c ? ", " : "") << c << ": " << (metadata_.channels[c].name.empty() ? "?" : metadata_.channels[c].name);
  }
  o << "\n  scenes        " << idx.scenes().size() << "\n";
  for (const Scene& s : idx.scenes()) {
    o << "    " << idx.IndexName(Dim::kS, s.index) << "  x=" << s.bbox.x << " y=" << s.bbox.y
      << " " << s.bbox.width << "x" << s.bbox.height << "\n";
  }
  o << "  attachments   " << czi_->attachments().size() << "\n";
  for (const AttachmentEntry& a : czi_->attachments()) {
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
    if (!p.unsupported.empty()) o << "  unsupported   " << p.path << ": " << p.unsupported << "\n";
  }
  if (!metadata_.warning.empty()) o << "  warning       " << metadata_.warning << "\n";
  return o.str();
}

}  // namespace czifs
