#include "czifs/czi_document.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

namespace czifs {

Result<std::shared_ptr<const CziDocument>> CziDocument::Open(const std::string& path,
                                                             std::shared_ptr<SubblockCache> cache) {
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<const CziFile> czi, CziFile::Open(path));
  std::shared_ptr<CziDocument> doc(new CziDocument(czi, std::move(cache)));
  CZIFS_ASSIGN_OR_RETURN(doc->index_, ImageIndex::Build(*czi));
  auto xml = czi->ReadMetadataXml();
  if (xml.ok()) {
    doc->metadata_xml_ = std::move(xml).value();
    doc->metadata_ = ParseImageMetadata(doc->metadata_xml_);
  } else {
    // Pixels stay reachable without metadata; the problem shows in info.json.
    doc->metadata_.warning = xml.status().ToString();
  }
  const ImageMetadata& md = doc->metadata_;
  TiffSpec base;
  if (md.scale_x_um && md.scale_y_um) {
    base.pixels_per_um_x = 1.0 / *md.scale_x_um;
    base.pixels_per_um_y = 1.0 / *md.scale_y_um;
  }
  base.description = ImageJDescription(md.scale_z_um);
  // Planes of one scene and pixel type share a layout.
  std::map<std::tuple<uint32_t, int32_t>, std::shared_ptr<const TiffLayout>> shared;
  const auto& planes = doc->index_.planes();
  doc->layouts_.resize(planes.size());
  for (size_t i = 0; i < planes.size(); ++i) {
    const Plane& p = planes[i];
    if (!p.unsupported.empty()) continue;
    auto key = std::make_tuple(p.scene, p.pixel_type);
    auto it = shared.find(key);
    if (it == shared.end()) {
      const Rect& box = doc->index_.scenes()[p.scene].bbox;
      TiffSpec spec = base;
      spec.width = static_cast<uint32_t>(box.width);
      spec.height = static_cast<uint32_t>(box.height);
      spec.pixel_type = p.pixel_type;
      if (box.width > UINT32_MAX || box.height > UINT32_MAX) {
        return Status::NotSupported("scene " + std::to_string(doc->index_.scenes()[p.scene].index) +
                                    " is too large for one TIFF");
      }
      CZIFS_ASSIGN_OR_RETURN(auto layout, TiffLayout::Build(spec));
      it = shared.emplace(key, std::move(layout)).first;
    }
    doc->layouts_[i] = it->second;
  }
  return std::shared_ptr<const CziDocument>(std::move(doc));
}

Result<size_t> CziDocument::ReadPlane(uint32_t i, uint64_t offset, size_t len,
                                      uint8_t* out) const {
  const std::shared_ptr<const TiffLayout>& layout = layouts_.at(i);
  if (!layout) return Status::NotSupported(index_.planes()[i].unsupported);
  const Plane& plane = index_.planes()[i];
  const Rect& box = index_.scenes()[plane.scene].bbox;
  const uint64_t row_bytes =
      static_cast<uint64_t>(box.width) * static_cast<uint64_t>(BytesPerPixel(plane.pixel_type));
  auto fill = [&](uint64_t pixel_offset, size_t n, uint8_t* dst) -> Status {
    const uint64_t r0 = pixel_offset / row_bytes;
    const uint64_t r1 = (pixel_offset + n + row_bytes - 1) / row_bytes;
    thread_local std::vector<uint8_t> rows;
    rows.resize((r1 - r0) * row_bytes);
    CZIFS_RETURN_IF_ERROR(ComposeRows(index_, i, static_cast<int64_t>(r0),
                                      static_cast<int64_t>(r1), reader_, rows.data()));
    ToTiffSampleOrder(plane.pixel_type, rows);
    std::memcpy(dst, rows.data() + (pixel_offset - r0 * row_bytes), n);
    return Status::Ok();
  };
  size_t produced = 0;
  Status st = layout->Read(offset, len, out, fill, &produced);
  if (!st.ok()) return st.WithContext(plane.path);
  return produced;
}

Result<std::string> CziDocument::PlaneTableCsv() const {
  std::lock_guard<std::mutex> lock(planetable_mu_);
  if (!planetable_) {
    CZIFS_ASSIGN_OR_RETURN(std::string csv, BuildPlaneTable());
    planetable_ = std::move(csv);
  }
  return *planetable_;
}

}  // namespace czifs
