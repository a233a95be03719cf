#include "czifs/imagej.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace czifs {
namespace {

// UTF-8 to UTF-16 (what ImageJ stores labels in); a malformed byte becomes '?'.
std::u16string Utf16(const std::string& s) {
  std::u16string out;
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int extra = -1;  // continuation bytes after the lead byte
    uint32_t cp = 0;
    if (b < 0x80) {
      extra = 0, cp = b;
    } else if ((b >> 5) == 0x6) {
      extra = 1, cp = b & 0x1F;
    } else if ((b >> 4) == 0xE) {
      extra = 2, cp = b & 0x0F;
    } else if ((b >> 3) == 0x1E) {
      extra = 3, cp = b & 0x07;
    }
    bool ok = extra >= 0 && s.size() - i > static_cast<size_t>(extra);
    for (int k = 1; ok && k <= extra; ++k) {
      const auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      ok = (c >> 6) == 2;
      cp = cp << 6 | (c & 0x3F);
    }
    if (!ok || cp > 0x10FFFF) {
      out += u'?';
      ++i;
      continue;
    }
    i += static_cast<size_t>(extra) + 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

// ImageJ's metadata blocks, little-endian: a header ("IJIJ" magic, then a
// (type, count) pair per kind), one block of display ranges (min, max
// doubles per channel) and one 768-byte LUT (reds, greens, blues) per channel.
}  // namespace

ImageJTags EncodeImageJExtras(const ImageJExtras& spec) {
  ImageJTags m;
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) m.bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  const bool ranges = !spec.ranges.empty(), luts = !spec.colors.empty();
  put32(0x494a494a);  // "IJIJ"
  if (!spec.labels.empty()) {
    put32(0x6c61626c);  // "labl": a block per page
    put32(static_cast<uint32_t>(spec.labels.size()));
  }
  if (ranges) {
    put32(0x72616e67);  // "rang": one block
    put32(1);
  }
  if (luts) {
    put32(0x6c757473);  // "luts": a block per channel
    put32(static_cast<uint32_t>(spec.colors.size()));
  }
  m.counts.push_back(static_cast<uint32_t>(m.bytes.size()));
  for (const std::string& label : spec.labels) {
    const size_t before = m.bytes.size();
    for (const char16_t c : Utf16(label)) {
      m.bytes.push_back(static_cast<uint8_t>(c & 0xFF));
      m.bytes.push_back(static_cast<uint8_t>(c >> 8));
    }
    m.counts.push_back(static_cast<uint32_t>(m.bytes.size() - before));
  }
  if (ranges) {
    for (const auto& [lo, hi] : spec.ranges) {
      for (const double d : {lo, hi}) {
        uint64_t bits;
        std::memcpy(&bits, &d, 8);
        put32(static_cast<uint32_t>(bits));
        put32(static_cast<uint32_t>(bits >> 32));
      }
    }
    m.counts.push_back(static_cast<uint32_t>(spec.ranges.size() * 16));
  }
  for (const uint32_t rgb : spec.colors) {
    for (int shift : {16, 8, 0}) {
      const uint32_t top = (rgb >> shift) & 0xFF;
      for (uint32_t i = 0; i < 256; ++i) m.bytes.push_back(static_cast<uint8_t>(i * top / 255));
    }
    m.counts.push_back(768);
  }
  return m;
}

namespace {

// "unit=micron\nspacing=0.5\n" when the pixel size is known, else nothing.
std::string CalibrationLines(bool calibrated, std::optional<double> spacing_um) {
  if (!calibrated) return "";
  std::string d = "unit=micron\n";
  if (spacing_um) {
    char buf[64];
    snprintf(buf, sizeof buf, "spacing=%.10g\n", *spacing_um);
    d += buf;
  }
  return d;
}

}  // namespace

std::string ImageJDescription(bool calibrated, std::optional<double> spacing_um,
                              std::optional<std::pair<double, double>> range) {
  std::string d = "ImageJ=1.11a\n" + CalibrationLines(calibrated, spacing_um);
  if (range) {
    char buf[96];
    // + 0.0 turns -0 (a rounded tiny negative) into 0: ImageJ would show "min=-0".
    snprintf(buf, sizeof buf, "min=%.10g\nmax=%.10g\n", range->first + 0.0, range->second + 0.0);
    d += buf;
  }
  return d;
}

std::string ImageJHyperstackDescription(bool calibrated, std::optional<double> spacing_um,
                                        uint32_t channels, uint32_t slices, uint32_t frames,
                                        bool gray, std::optional<double> frame_interval_s) {
  const uint64_t images = uint64_t{channels} * slices * frames;
  std::string d = fmt::format("ImageJ=1.11a\nimages={}\n", images);
  if (channels > 1) d += fmt::format("channels={}\n", channels);
  if (slices > 1) d += fmt::format("slices={}\n", slices);
  if (frames > 1) d += fmt::format("frames={}\n", frames);
  d += "hyperstack=true\n";
  if (gray && channels > 1) d += "mode=composite\n";
  d += CalibrationLines(calibrated, spacing_um) + "loop=false\n";
  // ImageJ's time unit is seconds unless a tunit= line says otherwise.
  if (frames > 1 && frame_interval_s) d += fmt::format("finterval={}\n", *frame_interval_s);
  return d;
}

std::string FixedWidth(std::optional<double> v, size_t width) {
  std::string text = "nan";
  if (v && std::isfinite(*v)) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", *v);
    if (std::strlen(buf) > width) snprintf(buf, sizeof buf, "%.6e", *v);
    if (std::strlen(buf) <= width) text = buf;
  }
  return std::string(width - text.size(), ' ') + text;
}

std::string FixedWidth(const std::string& text, size_t width) {
  return std::string(width - std::min(width, text.size()), ' ') + text.substr(0, width);
}

}  // namespace czifs
