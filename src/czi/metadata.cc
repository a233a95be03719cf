#include "czifs/metadata.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pugixml.hpp>
#include <sstream>

#include "czifs/czi_types.h"

namespace czifs {
namespace {

// Parse options: no DOCTYPE processing beyond skipping it, no entity expansion
// other than the five predefined ones.
constexpr unsigned kParseOptions = pugi::parse_default & ~pugi::parse_doctype;

std::optional<double> ToDouble(const char* s) {
  if (s == nullptr || *s == '\0') return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s, &end);
  while (end && std::isspace(static_cast<unsigned char>(*end))) ++end;
  if (end == s || (end && *end != '\0') || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::optional<double> ParseIsoTime(const std::string& text) {
  int y, mo, d, h, mi, s;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) !=
      6) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  double frac = 0;
  size_t i = static_cast<size_t>(consumed);
  if (i < text.size() && text[i] == '.') {
    double scale = 0.1;
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      frac += (text[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  int offset_s = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) >= 1) {
      offset_s = (oh * 3600 + om * 60) * (text[i] == '+' ? 1 : -1);
    }
  }
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return static_cast<double>(days * 86400 + h * 3600 + mi * 60 + s - offset_s) + frac;
}

namespace {

// Reads ZEN's frame interval and the T offsets (both in seconds; ZEN keeps
// times in seconds whatever unit it displays them in).
void ParseFrameTiming(const pugi::xml_node& meta, ImageMetadata* md) {
  pugi::xml_node t = meta.child("Information").child("Image").child("Dimensions").child("T");
  pugi::xml_node positions = t.child("Positions");
  auto increment = ToDouble(positions.child("Interval").child_value("Increment"));
  if (increment && *increment > 0) md->frame_interval_s = increment;
  std::istringstream offsets(positions.child("List").child_value("Offsets"));
  for (std::string word; offsets >> word;) {
    auto v = ToDouble(word.c_str());
    if (!v) {
      md->frame_offsets_s.clear();
      break;
    }
    md->frame_offsets_s.push_back(*v);
  }
  if (md->frame_interval_s) return;
  // The acquisition blocks' time series setups (not the autofocus helper's).
  for (pugi::xml_node block :
       meta.child("Experiment").child("ExperimentBlocks").children("AcquisitionBlock")) {
    pugi::xml_node span = block.child("SubDimensionSetups")
                              .child("TimeSeriesSetup")
                              .child("Interval")
                              .child("TimeSpan");
    auto v = ToDouble(span.child_value("Value"));
    if (v && *v > 0) {
      md->frame_interval_s = v;
      return;
    }
  }
}

// The objective ObjectiveSettings refers to (else the only one listed).
std::optional<ObjectiveInfo> ParseObjective(const pugi::xml_node& meta) {
  const pugi::xml_node info = meta.child("Information");
  const std::string ref =
      info.child("Image").child("ObjectiveSettings").child("ObjectiveRef").attribute("Id").value();
  pugi::xml_node chosen;
  size_t count = 0;
  for (pugi::xml_node o : info.child("Instrument").child("Objectives").children("Objective")) {
    ++count;
    if (!chosen || o.attribute("Id").value() == ref) chosen = o;
    if (o.attribute("Id").value() == ref) break;
  }
  if (!chosen || (ref.empty() && count > 1)) return std::nullopt;
  ObjectiveInfo o;
  o.model = chosen.child("Manufacturer").child_value("Model");
  if (o.model.empty()) o.model = chosen.attribute("Name").as_string();
  o.immersion = chosen.child_value("Immersion");
  o.lens_na = ToDouble(chosen.child_value("LensNA"));
  o.magnification = ToDouble(chosen.child_value("NominalMagnification"));
  return o;
}

// The scenes ZEN lists, their names and wells, and the plate's shape.
void ParseScenes(const pugi::xml_node& meta, ImageMetadata* md) {
  pugi::xml_node dims = meta.child("Information").child("Image").child("Dimensions");
  for (pugi::xml_node sc : dims.child("S").child("Scenes").children("Scene")) {
    SceneInfo info;
    info.index = sc.attribute("Index").as_uint();
    info.name = sc.attribute("Name").as_string();
    pugi::xml_node shape = sc.child("Shape");
    info.well = shape.attribute("Name").as_string();
    const auto row = ToDouble(shape.child_value("RowIndex"));
    const auto column = ToDouble(shape.child_value("ColumnIndex"));
    if (row && column && *row >= 1 && *column >= 1 && *row <= 1e4 && *column <= 1e4) {
      info.well_row = static_cast<uint32_t>(*row);
      info.well_column = static_cast<uint32_t>(*column);
    }
    pugi::xml_node at = sc.child("Positions").child("Position");
    info.x_um = ToDouble(at.attribute("X").value());
    info.y_um = ToDouble(at.attribute("Y").value());
    info.z_um = ToDouble(at.attribute("Z").value());
    md->scenes.push_back(std::move(info));
  }
  // The plate template's shape: the first element holding a usable ShapeRows.
  meta.find_node([md](pugi::xml_node n) {
    if (std::strcmp(n.name(), "ShapeRows") != 0) return false;
    const auto rows = ToDouble(n.child_value());
    const auto columns = ToDouble(n.parent().child_value("ShapeColumns"));
    if (!rows || !columns || *rows < 1 || *columns < 1 || *rows > 1e4 || *columns > 1e4) {
      return false;
    }
    md->plate_rows = static_cast<uint32_t>(*rows);
    md->plate_columns = static_cast<uint32_t>(*columns);
    return true;
  });
}

}  // namespace

ImageMetadata ParseImageMetadata(const std::string& xml) {
  ImageMetadata md;
  if (xml.empty()) return md;
  pugi::xml_document doc;
  pugi::xml_parse_result res = doc.load_buffer(xml.data(), xml.size(), kParseOptions);
  if (!res) {
    md.warning =
        fmt::format("metadata XML does not parse: {} at offset {}", res.description(), res.offset);
    return md;
  }
  pugi::xml_node meta = doc.child("ImageDocument").child("Metadata");
  for (pugi::xml_node dist : meta.child("Scaling").child("Items").children("Distance")) {
    std::string id = dist.attribute("Id").as_string();
    auto v = ToDouble(dist.child_value("Value"));
    if (!v || *v <= 0) continue;
    // Metres to micrometres, rounded to 12 significant digits so 1.6e-06 m reads 1.6 µm.
    char buf[32];
    snprintf(buf, sizeof buf, "%.12g", *v * 1e6);
    double um = std::strtod(buf, nullptr);
    if (id == "X") md.scale_x_um = um;
    if (id == "Y") md.scale_y_um = um;
    if (id == "Z") md.scale_z_um = um;
  }
  pugi::xml_node image = meta.child("Information").child("Image");
  for (pugi::xml_node ch : image.child("Dimensions").child("Channels").children("Channel")) {
    ChannelInfo info;
    info.name = ch.attribute("Name").as_string();
    if (info.name.empty()) info.name = ch.child_value("Name");
    info.excitation_nm = ToDouble(ch.child_value("ExcitationWavelength"));
    info.emission_nm = ToDouble(ch.child_value("EmissionWavelength"));
    info.fluor = ch.child_value("Fluor");
    md.channels.push_back(std::move(info));
  }
  // Colours (and sometimes names) live under DisplaySetting; match by
  // position (same order as above).
  size_t i = 0;
  for (pugi::xml_node ch : meta.child("DisplaySetting").child("Channels").children("Channel")) {
    if (i < md.channels.size()) {
      ChannelInfo& info = md.channels[i];
      info.color = ch.child_value("Color");
      info.display_low = ToDouble(ch.child_value("Low"));
      info.display_high = ToDouble(ch.child_value("High"));
      // Some files (e.g. from ZEN's "Airyscan" or old versions) name channels
      // only here.
      if (info.name.empty()) info.name = ch.attribute("Name").as_string();
      if (info.name.empty()) info.name = ch.child_value("ShortName");
    }
    ++i;
  }
  md.acquisition_date = image.child_value("AcquisitionDateAndTime");
  ParseFrameTiming(meta, &md);
  pugi::xml_node mic = meta.child("Information").child("Instrument").child("Microscopes");
  md.microscope = mic.child("Microscope").attribute("Name").as_string();
  md.objective = ParseObjective(meta);
  ParseScenes(meta, &md);
  return md;
}

std::optional<std::pair<double, double>> DisplayRange(const ChannelInfo& ch, int32_t pixel_type) {
  double full = 0;
  if (pixel_type == static_cast<int32_t>(PixelType::kGray8)) full = 255;
  if (pixel_type == static_cast<int32_t>(PixelType::kGray16)) full = 65535;
  if (full == 0 || (!ch.display_low && !ch.display_high)) return std::nullopt;
  const double low = std::clamp(ch.display_low.value_or(0.0), 0.0, 1.0);
  const double high = std::clamp(ch.display_high.value_or(1.0), 0.0, 1.0);
  if (high <= low) return std::nullopt;
  return std::make_pair(std::round(low * full), std::round(high * full));
}

std::optional<uint32_t> ParseColor(const std::string& text) {
  if (text.size() != 7 && text.size() != 9) return std::nullopt;
  if (text[0] != '#') return std::nullopt;
  uint32_t v = 0;
  for (size_t i = 1; i < text.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                                                              : -1;
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<uint32_t>(d);
  }
  return v & 0xFFFFFF;
}

SubblockTags ParseSubblockTags(const std::string& xml) {
  SubblockTags tags;
  if (xml.empty()) return tags;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size(), kParseOptions)) return tags;
  pugi::xml_node t = doc.child("METADATA").child("Tags");
  tags.stage_x_um = ToDouble(t.child_value("StageXPosition"));
  tags.stage_y_um = ToDouble(t.child_value("StageYPosition"));
  tags.focus_um = ToDouble(t.child_value("FocusPosition"));
  tags.acquisition_time = ParseIsoTime(t.child_value("AcquisitionTime"));
  return tags;
}

}  // namespace czifs
