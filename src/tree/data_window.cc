#include "data_window.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>

#include "czifs/zarr_json.h"

namespace czifs {
namespace {

// (min, max) of zarr channel `k` of `image`: its smallest level's plane at
// t = 0, z = the middle one. Chunks the file does not have are zeros.
Result<std::pair<double, double>> SampleRange(const CziDocument& doc, uint32_t index, uint32_t k) {
  const ZarrImage& image = doc.catalog().zarr_images()[index];
  const auto level = static_cast<uint32_t>(image.levels.size() - 1);
  const ZarrLevel& l = image.levels[level];
  const uint32_t z = image.slices / 2, zc = z / l.chunk_depth, page = z % l.chunk_depth;
  const uint64_t chunk_bytes = static_cast<uint64_t>(l.chunk_width * l.chunk_height) * 4;
  std::vector<float> samples(static_cast<size_t>(l.chunk_width * l.chunk_height));
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int64_t y = 0; y * l.chunk_height < l.height; ++y) {
    for (int64_t x = 0; x * l.chunk_width < l.width; ++x) {
      const TiffId id{TiffKind::kZarrChunk,    index, level, 0, k, zc, static_cast<uint32_t>(y),
                      static_cast<uint32_t>(x)};
      auto chunk = doc.catalog().Describe(id);
      if (!chunk.ok() && chunk.status().code() == StatusCode::kNotFound) {
        lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
        continue;
      }
      CZIFS_RETURN_IF_ERROR(chunk.status());
      CZIFS_ASSIGN_OR_RETURN(const size_t n,
                             doc.reader().Read(*chunk, page * chunk_bytes, chunk_bytes,
                                               reinterpret_cast<uint8_t*>(samples.data())));
      if (n != chunk_bytes) return Status::IOError("a short read of a zarr chunk");
      for (int64_t r = 0; r < l.chunk_height && y * l.chunk_height + r < l.height; ++r) {
        for (int64_t c = 0; c < l.chunk_width && x * l.chunk_width + c < l.width; ++c) {
          const double v = samples[static_cast<size_t>(r * l.chunk_width + c)];
          if (v == v) lo = std::min(lo, v), hi = std::max(hi, v);  // NaN: not data
        }
      }
    }
  }
  if (lo > hi) return std::make_pair(0.0, 0.0);
  return std::make_pair(lo, hi);
}

// A file whose size is known at once and whose bytes are made on first read.
class DataWindowAttrs : public VirtualFile {
 public:
  // The size, with placeholder numbers of the same width, is known at once.
  DataWindowAttrs(std::shared_ptr<const CziDocument> doc, uint32_t image)
      : doc_(std::move(doc)),
        image_(image),
        size_(ZarrAttrsJson(doc_->report(), doc_->catalog().zarr_images()[image_]).size()) {}
  Result<uint64_t> Size() const override { return size_; }
  std::optional<uint64_t> SizeIfCheap() const override { return size_; }
  Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const override {
    CZIFS_ASSIGN_OR_RETURN(const std::string* text, Text());
    if (offset >= text->size()) return size_t{0};
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, text->size() - offset));
    std::memcpy(out, text->data() + offset, n);
    return n;
  }

 private:
  Result<const std::string*> Text() const {
    std::call_once(once_, [this] {
      const ZarrImage& image = doc_->catalog().zarr_images()[image_];
      std::vector<std::pair<double, double>> ranges;
      for (uint32_t k = 0; k < image.channels * image.samples; ++k) {
        auto range = SampleRange(*doc_, image_, k);
        if (!range.ok()) {
          status_ = range.status();
          return;
        }
        ranges.push_back(*range);
      }
      text_ = ZarrAttrsJson(doc_->report(), image, &ranges);
    });
    if (!status_.ok()) return status_;
    return &text_;
  }
  const std::shared_ptr<const CziDocument> doc_;
  const uint32_t image_;
  const uint64_t size_;
  mutable std::once_flag once_;
  mutable Status status_;     // written once under once_
  mutable std::string text_;  // written once under once_
};

}  // namespace

std::shared_ptr<VirtualFile> MakeDataWindowAttrs(std::shared_ptr<const CziDocument> doc,
                                                 uint32_t image) {
  return std::make_shared<DataWindowAttrs>(std::move(doc), image);
}

}  // namespace czifs
