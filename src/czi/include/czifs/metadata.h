// Parsing of the XML metadata: the document-level ImageDocument and the small
// per-subblock <METADATA> blocks. Missing pieces are normal: every field is
// optional and a document that does not parse yields an empty result plus
// a warning string, never an error that hides the pixels.
//
// XML is parsed by pugixml, which never loads external entities or touches
// the network. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace czifs {

struct ChannelInfo {
  std::string name;
  std::string color;  // "#FFRRGGBB" as ZEN writes it, or ""
  // ZEN's display setting: the shown range as fractions of the pixel type's
  // full range (DisplaySetting <Low>/<High>), when set.
  std::optional<double> display_low, display_high;
  // Light: wavelengths in nanometres and the fluorophore, where ZEN says.
  std::optional<double> excitation_nm, emission_nm;
  std::string fluor;
};

// The objective the image was taken with (ZEN's ObjectiveSettings' reference).
struct ObjectiveInfo {
  std::string model;      // "Plan-Apochromat 63x/1.4 Oil DIC M27"
  std::string immersion;  // ZEN's word: "Oil", "Water", "Air", ...
  std::optional<double> lens_na, magnification;
};

// A scene as ZEN describes it: its name and, on a plate, its well.
struct SceneInfo {
  uint32_t index = 0;                             // the S index
  std::string name;                               // "D6", or ""
  std::string well;                               // the well's name ("D6"), or "" off a plate
  std::optional<uint32_t> well_row, well_column;  // as ZEN numbers them (1-based)
  // Where the stage was for it (its first listed position), in µm.
  std::optional<double> x_um, y_um, z_um;
};

// The display range of `ch` in pixel values of `pixel_type` (Gray8: 0..255,
// Gray16: 0..65535), when ZEN set one; other pixel types have none.
std::optional<std::pair<double, double>> DisplayRange(const ChannelInfo& ch, int32_t pixel_type);

// The RGB (0xRRGGBB) of a ZEN colour "#AARRGGBB" or "#RRGGBB", if it is one.
std::optional<uint32_t> ParseColor(const std::string& text);

struct ImageMetadata {
  std::optional<double> scale_x_um, scale_y_um, scale_z_um;  // pixel size in micrometres
  std::vector<ChannelInfo> channels;                         // in channel index order
  std::string acquisition_date;
  std::string microscope;
  // ZEN's frame interval in seconds, when it says one above zero: the T
  // dimension's Increment, else the time series setup's Interval (0 means
  // "as fast as possible": then there is none here).
  std::optional<double> frame_interval_s;
  // The T dimension's offsets in seconds from the first frame, when listed.
  std::vector<double> frame_offsets_s;
  std::optional<ObjectiveInfo> objective;
  std::vector<SceneInfo> scenes;  // those ZEN lists, in its order
  // A plate's wells (ZEN's template ShapeRows/ShapeColumns), when the file has one.
  std::optional<uint32_t> plate_rows, plate_columns;
  std::string warning;  // non-empty if the document could not be parsed
};

// Extracts scaling, channel names and a few descriptive fields.
ImageMetadata ParseImageMetadata(const std::string& xml);

struct SubblockTags {
  std::optional<double> stage_x_um, stage_y_um, focus_um;
  std::optional<double> acquisition_time;  // seconds since the Unix epoch
};

// Extracts stage position, focus and acquisition time from subblock metadata.
SubblockTags ParseSubblockTags(const std::string& xml);

// Parses an ISO 8601 time ("2021-05-03T10:11:12.1234567Z", "+02:00" offsets
// allowed) into seconds since the Unix epoch.
std::optional<double> ParseIsoTime(const std::string& text);

}  // namespace czifs
