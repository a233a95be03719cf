// OME-XML (schema 2016-06) for the OME-TIFF files and the bioformats2raw
// root: per image its pixels' sizes, type and physical sizes, the time
// increment, channels with ZEN's names, colours, wavelengths and
// fluorophores, the objective, and per plane its place (TiffData), its
// time (DeltaT) and its scene's stage position (ZEN's scene Position) where
// known. Written with pugixml. What the metadata does not say is left out,
// never invented (per-tile stage positions are in planetable.csv).
#include <fmt/format.h>

#include <cmath>
#include <pugixml.hpp>
#include <sstream>

#include "czifs/catalog.h"
#include "czifs/version.h"

namespace czifs {
namespace {

constexpr const char* kOmeNamespace = "http://www.openmicroscopy.org/Schemas/OME/2016-06";

// OME's pixel type of one sample.
const char* OmeType(int32_t pixel_type) {
  if (IsFloatPixelType(pixel_type)) return BytesPerSample(pixel_type) == 8 ? "double" : "float";
  switch (BytesPerSample(pixel_type)) {
    case 1:
      return "uint8";
    case 2:
      return "uint16";
    default:
      return "uint32";
  }
}

// ZEN's immersion word as OME's enumeration.
const char* OmeImmersion(const std::string& zen) {
  for (const char* known : {"Oil", "Water", "WaterDipping", "Air", "Multi", "Glycerol"}) {
    if (zen == known) return known;
  }
  return "Other";
}

std::string Number(double v) { return fmt::format("{}", v); }

// OME's colour: RGBA packed into a signed 32-bit integer.
std::string OmeColor(uint32_t rgb) {
  return std::to_string(static_cast<int32_t>((rgb << 8) | 0xFF));
}

}  // namespace

std::string Catalog::OmeName(const ZarrImage& image) const {
  // Not the CZI's file name: the served bytes must not change when the
  // file is renamed (a reader of the old name keeps valid bytes).
  std::string name = image.name.substr(0, image.name.find('.'));
  const int32_t s = index_->scenes()[image.scene].index;
  for (const SceneInfo& info : metadata_->scenes) {
    if (static_cast<int32_t>(info.index) == s && !info.name.empty()) name += " " + info.name;
  }
  return name;
}

std::string Catalog::OmeXml(const std::vector<uint32_t>& images, bool tiff_data) const {
  pugi::xml_document doc;
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node ome = doc.append_child("OME");
  ome.append_attribute("xmlns") = kOmeNamespace;
  ome.append_attribute("xmlns:xsi") = "http://www.w3.org/2001/XMLSchema-instance";
  ome.append_attribute("xsi:schemaLocation") =
      (std::string(kOmeNamespace) + " " + kOmeNamespace + "/ome.xsd").c_str();
  ome.append_attribute("Creator") = "czifs " CZIFS_VERSION;
  const ImageMetadata& md = *metadata_;
  const bool objective = md.objective.has_value();
  if (objective) {
    pugi::xml_node instrument = ome.append_child("Instrument");
    instrument.append_attribute("ID") = "Instrument:0";
    pugi::xml_node o = instrument.append_child("Objective");
    o.append_attribute("ID") = "Objective:0:0";
    if (!md.objective->model.empty()) o.append_attribute("Model") = md.objective->model.c_str();
    if (!md.objective->immersion.empty()) {
      o.append_attribute("Immersion") = OmeImmersion(md.objective->immersion);
    }
    if (md.objective->lens_na)
      o.append_attribute("LensNA") = Number(*md.objective->lens_na).c_str();
    if (md.objective->magnification) {
      o.append_attribute("NominalMagnification") = Number(*md.objective->magnification).c_str();
    }
  }
  for (size_t n = 0; n < images.size(); ++n) {
    AppendOmeImage(zarr_[images[n]], static_cast<uint32_t>(n), tiff_data, objective, &ome);
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

void Catalog::AppendOmeImage(const ZarrImage& image, uint32_t n, bool tiff_data, bool objective,
                             pugi::xml_node* ome) const {
  const ImageMetadata& md = *metadata_;
  pugi::xml_node img = ome->append_child("Image");
  img.append_attribute("ID") = fmt::format("Image:{}", n).c_str();
  img.append_attribute("Name") = OmeName(image).c_str();
  // xsd:dateTime: ZEN's own ISO 8601 text, when it is one.
  if (ParseIsoTime(md.acquisition_date)) {
    img.append_child("AcquisitionDate").text() = md.acquisition_date.c_str();
  }
  if (objective) {
    img.append_child("InstrumentRef").append_attribute("ID") = "Instrument:0";
    img.append_child("ObjectiveSettings").append_attribute("ID") = "Objective:0:0";
  }
  pugi::xml_node px = img.append_child("Pixels");
  const uint32_t spp = image.samples;
  px.append_attribute("ID") = fmt::format("Pixels:{}", n).c_str();
  px.append_attribute("DimensionOrder") = "XYCZT";
  px.append_attribute("Type") = OmeType(image.pixel_type);
  px.append_attribute("SizeX") = image.levels.empty() ? 0 : image.levels[0].width;
  px.append_attribute("SizeY") = image.levels.empty() ? 0 : image.levels[0].height;
  px.append_attribute("SizeZ") = image.slices;
  px.append_attribute("SizeC") = image.channels * spp;
  px.append_attribute("SizeT") = image.frames;
  if (md.scale_x_um && md.scale_y_um) {
    px.append_attribute("PhysicalSizeX") = Number(*md.scale_x_um).c_str();
    px.append_attribute("PhysicalSizeXUnit") = "µm";
    px.append_attribute("PhysicalSizeY") = Number(*md.scale_y_um).c_str();
    px.append_attribute("PhysicalSizeYUnit") = "µm";
  }
  if (md.scale_z_um && image.slices > 1) {
    px.append_attribute("PhysicalSizeZ") = Number(*md.scale_z_um).c_str();
    px.append_attribute("PhysicalSizeZUnit") = "µm";
  }
  const std::optional<double> interval = frame_timing_.interval_s;
  if (interval) {
    px.append_attribute("TimeIncrement") = Number(*interval).c_str();
    px.append_attribute("TimeIncrementUnit") = "s";
  }
  px.append_attribute("Interleaved") = spp > 1 ? "true" : "false";
  px.append_attribute("BigEndian") = "false";
  for (uint32_t c = 0; c < image.channels; ++c) {
    AppendOmeChannel(image, n, c, &px);
  }
  const uint32_t planes = image.channels * image.slices * image.frames;
  for (uint32_t ifd = 0; tiff_data && ifd < planes; ++ifd) {
    pugi::xml_node td = px.append_child("TiffData");
    td.append_attribute("IFD") = ifd;
    td.append_attribute("FirstC") = ifd % image.channels;
    td.append_attribute("FirstZ") = ifd / image.channels % image.slices;
    td.append_attribute("FirstT") = ifd / image.channels / image.slices;
    td.append_attribute("PlaneCount") = 1;
  }
  if (!tiff_data) px.append_child("MetadataOnly");
  // Where the stage was for the scene (ZEN's scene position), the same for its planes.
  const SceneInfo* where = nullptr;
  for (const SceneInfo& info : md.scenes) {
    if (static_cast<int32_t>(info.index) == index_->scenes()[image.scene].index) where = &info;
  }
  const bool placed = where && where->x_um && where->y_um;
  for (uint32_t k = 0; (interval || placed) && k < planes; ++k) {
    pugi::xml_node plane = px.append_child("Plane");
    const uint32_t t = k / image.channels / image.slices;
    plane.append_attribute("TheC") = k % image.channels;
    plane.append_attribute("TheZ") = k / image.channels % image.slices;
    plane.append_attribute("TheT") = t;
    if (interval) {
      const bool listed = md.frame_offsets_s.size() == image.frames;
      plane.append_attribute("DeltaT") =
          Number(listed ? md.frame_offsets_s[t] : *interval * t).c_str();
      plane.append_attribute("DeltaTUnit") = "s";
    }
    if (placed) {
      plane.append_attribute("PositionX") = Number(*where->x_um).c_str();
      plane.append_attribute("PositionXUnit") = "µm";
      plane.append_attribute("PositionY") = Number(*where->y_um).c_str();
      plane.append_attribute("PositionYUnit") = "µm";
      if (where->z_um) {
        plane.append_attribute("PositionZ") = Number(*where->z_um).c_str();
        plane.append_attribute("PositionZUnit") = "µm";
      }
    }
  }
}

void Catalog::AppendOmeChannel(const ZarrImage& image, uint32_t n, uint32_t c,
                               pugi::xml_node* px) const {
  const ChannelInfo* ch = ChannelOf(*index_, *metadata_, index_->planes()[image.channel_planes[c]]);
  pugi::xml_node channel = px->append_child("Channel");
  channel.append_attribute("ID") = fmt::format("Channel:{}:{}", n, c).c_str();
  if (ch && !ch->name.empty()) channel.append_attribute("Name") = ch->name.c_str();
  channel.append_attribute("SamplesPerPixel") = image.samples;
  if (image.samples == 1) {
    if (auto rgb = ch ? ParseColor(ch->color) : std::nullopt) {
      channel.append_attribute("Color") = OmeColor(*rgb).c_str();
    }
  }
  if (!ch) return;
  if (ch->excitation_nm && *ch->excitation_nm > 0) {
    channel.append_attribute("ExcitationWavelength") = Number(*ch->excitation_nm).c_str();
    channel.append_attribute("ExcitationWavelengthUnit") = "nm";
  }
  if (ch->emission_nm && *ch->emission_nm > 0) {
    channel.append_attribute("EmissionWavelength") = Number(*ch->emission_nm).c_str();
    channel.append_attribute("EmissionWavelengthUnit") = "nm";
  }
  if (!ch->fluor.empty()) channel.append_attribute("Fluor") = ch->fluor.c_str();
}

}  // namespace czifs
