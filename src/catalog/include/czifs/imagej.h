// What ImageJ (Fiji) reads from a TIFF besides pixels: the ImageDescription
// text ("ImageJ=1.11a\nunit=micron\n...") and its private metadata tags
// (display ranges, channel colours as LUTs, page labels).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace czifs {

// Returns the ImageJ description for one image. `calibrated`: the pixel
// size is known (else no unit: ImageJ would show 1 µm pixels); `spacing_um`:
// the Z step when known; `range`: the display range (min=, max=).
std::string ImageJDescription(bool calibrated, std::optional<double> spacing_um,
                              std::optional<std::pair<double, double>> range = std::nullopt);

// The same for a hyperstack of channels x slices x frames pages (C fastest);
// `gray`: several channels are shown as a composite; `frame_interval_s`:
// the time between frames, when known (ImageJ's unit is seconds).
std::string ImageJHyperstackDescription(bool calibrated, std::optional<double> spacing_um,
                                        uint32_t channels, uint32_t slices, uint32_t frames,
                                        bool gray,
                                        std::optional<double> frame_interval_s = std::nullopt);

// ImageJ's private metadata, which ImageJ applies on opening: a display
// range and a colour (0xRRGGBB, shown as a black-to-colour LUT) per
// channel, and a label per page (UTF-8; ImageJ shows it with the page).
struct ImageJExtras {
  std::vector<std::pair<double, double>> ranges;
  std::vector<uint32_t> colors;
  std::vector<std::string> labels;
  bool empty() const { return ranges.empty() && colors.empty() && labels.empty(); }
};

// The two blocks of ImageJ's private tags 50839 (the bytes, little-endian:
// "IJIJ" header with a (type, count) pair per kind, the labels as UTF-16,
// one block of (min, max) doubles, one 768-byte LUT per channel) and 50838
// (the byte count of the header and of each block).
struct ImageJTags {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> counts;
};
ImageJTags EncodeImageJExtras(const ImageJExtras& extras);

// `v` right-aligned in exactly `width` characters ("nan" when unknown or
// when it cannot be written that short): descriptions of one length.
std::string FixedWidth(std::optional<double> v, size_t width);
std::string FixedWidth(const std::string& text, size_t width);

}  // namespace czifs
