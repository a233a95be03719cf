#include "czifs/czi_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "byte_reader.h"
#include "czifs/checked.h"

namespace czifs {
namespace {

constexpr uint64_t kSegmentHeaderSize = 32;
constexpr uint64_t kFileHeaderDataSize = 512;
constexpr uint64_t kDirectoryHeaderSize = 128;  // EntryCount + 124 spare
constexpr uint64_t kDvFixedSize = 32;           // DV entry without dimensions
constexpr uint64_t kDimEntrySize = 20;
constexpr uint64_t kAttachmentEntrySize = 128;
constexpr uint64_t kAttachmentDirHeaderSize = 256;  // EntryCount + 252 spare
constexpr uint64_t kAttachmentSegmentHeaderSize = 256;
constexpr uint64_t kMetadataSegmentHeaderSize = 256;  // XmlSize, AttachmentSize, spare
constexpr uint32_t kMaxAttachments = 100'000;

std::string At(uint64_t offset) { return fmt::format(" at offset {}", offset); }

// Bytes from the file as they may appear in a message or a log line:
// printable ASCII kept, anything else as \xNN.
std::string Printable(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

struct SegmentHeader {
  std::string id;
  int64_t allocated_size = 0;
  int64_t used_size = 0;
};

// Reads and checks the 32-byte segment header at `pos`; its data must lie in the file.
Result<SegmentHeader> ReadSegmentHeader(const RandomAccessFile& file, uint64_t pos,
                                        std::string_view expected_id) {
  uint8_t raw[kSegmentHeaderSize];
  CZIFS_RETURN_IF_ERROR(file.ReadExact(pos, sizeof raw, raw)
                            .WithContext(std::string(expected_id) + " segment header" + At(pos)));
  ByteReader r(raw, sizeof raw);
  SegmentHeader h;
  (void)r.FixedString(16, &h.id);
  (void)r.I64(&h.allocated_size);
  (void)r.I64(&h.used_size);
  if (h.id != expected_id) {
    return Status::Corruption("expected segment '" + std::string(expected_id) + "'" + At(pos) +
                              ", found '" + Printable(h.id) + "'");
  }
  if (h.allocated_size < 0 || h.used_size < 0) {
    return Status::Corruption(std::string(expected_id) + " segment" + At(pos) +
                              " has a negative size");
  }
  return h;
}

Status ParseDimension(ByteReader& r, SubblockEntry* e, uint64_t where) {
  char name[4];
  int32_t start, size, stored_size;
  float start_coord;
  if (!r.Bytes(name, sizeof name) || !r.I32(&start) || !r.I32(&size) || !r.F32(&start_coord) ||
      !r.I32(&stored_size)) {
    return Status::Corruption("subblock directory entry" + At(where) +
                              ": dimension list is truncated");
  }
  if (name[0] == 0 || name[1] != 0) return Status::Ok();  // none, or an unknown multi-letter one
  if (name[0] == 'X' || name[0] == 'Y') {
    if (size <= 0 || stored_size <= 0) {
      return Status::Corruption(
          fmt::format("subblock directory entry{}: dimension {} has non-positive size {}/{}",
                      At(where), name[0], size, stored_size));
    }
    if (name[0] == 'X') {
      e->x = start;
      e->width = size;
      e->stored_width = stored_size;
    } else {
      e->y = start;
      e->height = size;
      e->stored_height = stored_size;
    }
    return Status::Ok();
  }
  if (auto d = DimFromLetter(name[0])) {
    e->coord[static_cast<int>(*d)] = start;
    e->present |= static_cast<uint16_t>(1u << static_cast<int>(*d));
  }
  return Status::Ok();
}

// Parses one DV entry of the subblock directory (entry `i`, at file offset
// `where`) from `r` into `e`; `file_size` bounds its position.
Status ParseEntry(ByteReader& r, uint32_t i, uint64_t where, uint64_t file_size, SubblockEntry* e) {
  char schema[2];
  if (!r.Bytes(schema, sizeof schema)) {
    return Status::Corruption(
        fmt::format("subblock directory: entry {}{} is truncated", i, At(where)));
  }
  if (schema[0] != 'D' || schema[1] != 'V') {
    return Status::NotSupported(
        fmt::format("subblock directory: entry {}{} has schema '{}' (only \"DV\" is supported)", i,
                    At(where), Printable(std::string_view(schema, strnlen(schema, 2)))));
  }
  e->index = i;
  int32_t dim_count;
  if (!r.I32(&e->pixel_type) || !r.I64(&e->file_position) || !r.I32(&e->file_part) ||
      !r.I32(&e->compression) || !r.Skip(6) || !r.I32(&dim_count)) {
    return Status::Corruption(
        fmt::format("subblock directory: entry {}{} is truncated", i, At(where)));
  }
  if (dim_count < 0 || static_cast<uint32_t>(dim_count) > kMaxDimensionsPerEntry) {
    return Status::Corruption(
        fmt::format("subblock directory: entry {}{} has implausible dimension count {}", i,
                    At(where), dim_count));
  }
  for (int32_t d = 0; d < dim_count; ++d) {
    if (Status st = ParseDimension(r, e, where); !st.ok()) {
      return st.WithContext(fmt::format("entry {}", i));
    }
  }
  if (e->width <= 0 || e->height <= 0) {
    return Status::Corruption(
        fmt::format("subblock directory: entry {}{} lacks an X or Y dimension", i, At(where)));
  }
  if (static_cast<int64_t>(e->x) + e->width > INT32_MAX ||
      static_cast<int64_t>(e->y) + e->height > INT32_MAX) {
    return Status::Corruption(
        fmt::format("subblock directory: entry {}: rectangle overflows 32-bit coordinates", i));
  }
  if (e->file_position < 0 ||
      static_cast<uint64_t>(e->file_position) + kSegmentHeaderSize > file_size) {
    return Status::Corruption(fmt::format(
        "subblock directory: entry {} points past end of file (position {}, file size {})", i,
        e->file_position, file_size));
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const CziFile>> CziFile::Open(const std::string& path) {
  CZIFS_ASSIGN_OR_RETURN(auto file, RandomAccessFile::Open(path));
  return Open(std::move(file));
}

Result<std::shared_ptr<const CziFile>> CziFile::Open(std::unique_ptr<RandomAccessFile> file) {
  std::shared_ptr<CziFile> czi(new CziFile());
  czi->file_ = std::move(file);
  CZIFS_RETURN_IF_ERROR(czi->Parse());
  return std::shared_ptr<const CziFile>(std::move(czi));
}

namespace {

// Why `file`, whose file header segment could not be read (`st`), is not a
// CZI, if it does not start like one; else `st`. Read only on failure, so
// opening a good file costs no extra read.
Status ExplainBadStart(const RandomAccessFile& file, Status st) {
  constexpr std::string_view kMagic = "ZISRAWFILE";
  std::string start(std::min<uint64_t>(kMagic.size(), file.size()), '\0');
  if (!file.ReadExact(0, start.size(), start.data()).ok()) return st;
  if (start.empty()) return Status::Corruption("not a CZI file (it is empty)");
  if (start == kMagic) return st;
  return Status::Corruption(
      fmt::format("not a CZI file (it starts with '{}', not '{}')", Printable(start), kMagic));
}

}  // namespace

Status CziFile::Parse() {
  // Every CZI starts with its file header segment: anything else is not one.
  auto seg = ReadSegmentHeader(*file_, 0, "ZISRAWFILE");
  if (!seg.ok()) return ExplainBadStart(*file_, seg.status());
  uint8_t raw[kFileHeaderDataSize];
  uint64_t want = std::min<uint64_t>(kFileHeaderDataSize, file_->size() - kSegmentHeaderSize);
  if (want < 80) return Status::Corruption("file header is truncated (file too short)");
  std::memset(raw, 0, sizeof raw);
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(kSegmentHeaderSize, want, raw));
  ByteReader r(raw, sizeof raw);
  int32_t reserved;
  int32_t update_pending;
  (void)r.I32(&header_.major);
  (void)r.I32(&header_.minor);
  (void)r.I32(&reserved);
  (void)r.I32(&reserved);
  (void)r.Bytes(header_.primary_file_guid.data(), 16);
  (void)r.Bytes(header_.file_guid.data(), 16);
  (void)r.I32(&header_.file_part);
  (void)r.I64(&header_.directory_position);
  (void)r.I64(&header_.metadata_position);
  (void)r.I32(&update_pending);
  (void)r.I64(&header_.attachment_directory_position);
  if (header_.major != 1) {
    return Status::NotSupported(
        fmt::format("file header: unsupported format version {}.{}", header_.major, header_.minor));
  }
  if (header_.directory_position <= 0) {
    return Status::Corruption(fmt::format("file header: no subblock directory (position {})",
                                          header_.directory_position));
  }
  CZIFS_RETURN_IF_ERROR(ParseDirectory());
  if (header_.attachment_directory_position > 0) {
    CZIFS_RETURN_IF_ERROR(ParseAttachmentDirectory());
  }
  CheckSizesAgainstRoom();
  return file_->SetFingerprint(FingerprintRanges());
}

void CziFile::CheckSizesAgainstRoom() {
  // Every segment starts where the one before it ends at the latest.
  std::vector<uint64_t> starts;
  starts.reserve(subblocks_.size() + attachments_.size() + 4);
  for (size_t i = 0; i < subblocks_.size(); ++i) {
    starts.push_back(static_cast<uint64_t>(subblocks_.file_position(i)));
  }
  for (const AttachmentEntry& a : attachments_) {
    starts.push_back(static_cast<uint64_t>(a.file_position));
  }
  for (int64_t p : {header_.directory_position, header_.metadata_position,
                    header_.attachment_directory_position}) {
    if (p > 0) starts.push_back(static_cast<uint64_t>(p));
  }
  std::sort(starts.begin(), starts.end());
  const uint64_t end = file_->size();
  // Entries mostly come in file order: the next start is found by walking
  // on from the last one, by binary search otherwise.
  auto next = starts.begin();
  uint64_t last = 0;
  for (uint32_t i = 0; i < subblocks_.size(); ++i) {
    const int32_t type = subblocks_.pixel_type(i);
    const int bpp = BytesPerPixel(type);
    if (bpp == 0 || subblocks_.file_part(i) != 0) continue;  // unsupported anyway / another file's
    const uint64_t at = static_cast<uint64_t>(subblocks_.file_position(i));  // < end: checked
    if (at < last) next = starts.begin();
    last = at;
    if (next != starts.end() && *next <= at) {
      for (int steps = 0; next != starts.end() && *next <= at && steps < 8; ++steps) ++next;
      if (next != starts.end() && *next <= at) next = std::upper_bound(next, starts.end(), at);
    }
    const uint64_t room = (next == starts.end() ? end : std::min(end, *next)) - at;
    const int32_t compression = subblocks_.compression(i);
    const uint64_t ratio = compression == 0 ? 1 : kMaxCompressionRatio;
    // Stored sizes are positive int32s: the product fits in 64 bits.
    const SubblockTable::Geometry g = subblocks_.geometry(i);
    const uint64_t need = static_cast<uint64_t>(g.stored_width) *
                          static_cast<uint64_t>(g.stored_height) * static_cast<uint64_t>(bpp);
    if (need / ratio <= room) continue;
    subblocks_.MarkSizeDamaged(i);
    size_problems_.emplace(
        i, fmt::format("subblock directory entry {} claims {}x{} {} pixels ({} bytes{}), "
                       "but the file has {} bytes for it at offset {}: a damaged entry",
                       i, g.stored_width, g.stored_height, PixelTypeName(type), need,
                       compression == 0 ? "" : ", compressed", room, at));
  }
}

std::vector<ByteRange> CziFile::FingerprintRanges() const {
  // Each segment that stands for the content as parsed: the file header,
  // the subblock and attachment directories and the metadata, whole (its
  // header says how long; a header that does not parse: its 32 bytes).
  std::vector<ByteRange> ranges;
  const std::pair<int64_t, std::string_view> segments[] = {
      {0, "ZISRAWFILE"},
      {header_.directory_position, "ZISRAWDIRECTORY"},
      {header_.metadata_position, "ZISRAWMETADATA"},
      {header_.attachment_directory_position, "ZISRAWATTDIR"}};
  for (const auto& [pos, id] : segments) {
    if (pos < 0 || (pos == 0 && !ranges.empty())) continue;
    const uint64_t at = static_cast<uint64_t>(pos);
    uint64_t length = kSegmentHeaderSize;
    auto seg = ReadSegmentHeader(*file_, at, id);
    if (seg.ok()) {
      length += static_cast<uint64_t>(seg->used_size > 0 ? seg->used_size : seg->allocated_size);
    }
    ranges.push_back({at, length});  // clipped to the file by SetFingerprint
  }
  return ranges;
}

Status CziFile::ParseDirectory() {
  const uint64_t pos = static_cast<uint64_t>(header_.directory_position);
  CZIFS_ASSIGN_OR_RETURN(SegmentHeader seg, ReadSegmentHeader(*file_, pos, "ZISRAWDIRECTORY"));
  const uint64_t data_pos = pos + kSegmentHeaderSize;
  if (data_pos > file_->size())
    return Status::Corruption("subblock directory" + At(pos) + " past end of file");
  uint8_t head[kDirectoryHeaderSize];
  CZIFS_RETURN_IF_ERROR(
      file_->ReadExact(data_pos, sizeof head, head).WithContext("subblock directory" + At(pos)));
  ByteReader hr(head, sizeof head);
  int32_t count;
  (void)hr.I32(&count);
  if (count < 0 || static_cast<uint32_t>(count) > kMaxSubblocks) {
    return Status::Corruption(
        fmt::format("subblock directory{}: implausible entry count {}", At(pos), count));
  }
  // The entries are variable-length; read what the segment says it holds, capped by the file.
  uint64_t avail = file_->size() - data_pos - kDirectoryHeaderSize;
  uint64_t seg_len = static_cast<uint64_t>(std::max(seg.used_size, seg.allocated_size));
  uint64_t body = seg_len > kDirectoryHeaderSize ? seg_len - kDirectoryHeaderSize : 0;
  if (body == 0 || body > avail) body = avail;
  const uint64_t min_needed = static_cast<uint64_t>(count) * kDvFixedSize;
  if (min_needed > avail) {
    return Status::Corruption(
        fmt::format("subblock directory{}: {} entries cannot fit in the {} bytes left in the file",
                    At(pos), count, avail));
  }
  body = std::max(body, min_needed);
  // Read in windows (a directory of millions of entries is tens of MB) and
  // parsed in place; an entry is never longer than kMaxEntryBytes, so a
  // window is refilled once less than that is left in it.
  constexpr size_t kWindow = 1 << 20;
  constexpr size_t kMaxEntryBytes = kDvFixedSize + kMaxDimensionsPerEntry * kDimEntrySize;
  std::unique_ptr<uint8_t[]> buf(new uint8_t[kWindow]);  // read into, never zeroed
  uint64_t next = data_pos + kDirectoryHeaderSize;       // the next byte to read
  const uint64_t end = next + body;
  size_t have = 0, at = 0;  // bytes in the window, and where the next entry starts
  subblocks_.Reserve(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) {
    if (have - at < kMaxEntryBytes && next < end) {
      std::memmove(buf.get(), buf.get() + at, have - at);
      have -= at;
      at = 0;
      const auto n = static_cast<size_t>(std::min<uint64_t>(kWindow - have, end - next));
      CZIFS_RETURN_IF_ERROR(
          file_->ReadExact(next, n, buf.get() + have).WithContext("subblock directory" + At(pos)));
      have += n;
      next += n;
    }
    const uint64_t where = next - have + at;
    ByteReader r(buf.get() + at, have - at);
    SubblockEntry e;
    CZIFS_RETURN_IF_ERROR(ParseEntry(r, static_cast<uint32_t>(i), where, file_->size(), &e));
    CZIFS_RETURN_IF_ERROR(subblocks_.Append(e));
    at += r.pos();
  }
  subblocks_.ShrinkToFit();
  return Status::Ok();
}

Status CziFile::ParseAttachmentDirectory() {
  const uint64_t pos = static_cast<uint64_t>(header_.attachment_directory_position);
  auto seg = ReadSegmentHeader(*file_, pos, "ZISRAWATTDIR");
  if (!seg.ok()) return seg.status().WithContext("attachment directory");
  const uint64_t data_pos = pos + kSegmentHeaderSize;
  uint8_t head[kAttachmentDirHeaderSize];
  CZIFS_RETURN_IF_ERROR(
      file_->ReadExact(data_pos, sizeof head, head).WithContext("attachment directory" + At(pos)));
  ByteReader hr(head, sizeof head);
  int32_t count;
  (void)hr.I32(&count);
  if (count < 0 || static_cast<uint32_t>(count) > kMaxAttachments) {
    return Status::Corruption(
        fmt::format("attachment directory{}: implausible entry count {}", At(pos), count));
  }
  const uint64_t body = static_cast<uint64_t>(count) * kAttachmentEntrySize;
  if (!RangeWithin(data_pos + kAttachmentDirHeaderSize, body, file_->size())) {
    return Status::Corruption(
        fmt::format("attachment directory{}: {} entries extend past end of file", At(pos), count));
  }
  std::vector<uint8_t> buf(body);
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(data_pos + kAttachmentDirHeaderSize, body, buf.data()));
  ByteReader r(buf.data(), buf.size());
  for (int32_t i = 0; i < count; ++i) {
    AttachmentEntry a;
    std::string schema;
    int32_t part;
    (void)r.FixedString(2, &schema);
    (void)r.Skip(10);
    (void)r.I64(&a.file_position);
    (void)r.I32(&part);
    (void)r.Bytes(a.guid.data(), 16);
    (void)r.FixedString(8, &a.content_type);
    (void)r.FixedString(80, &a.name);
    if (a.file_position <= 0 ||
        static_cast<uint64_t>(a.file_position) + kSegmentHeaderSize > file_->size()) {
      return Status::Corruption(
          fmt::format("attachment directory: entry {} points past end of file", i));
    }
    attachments_.push_back(std::move(a));
  }
  return Status::Ok();
}

Result<std::string> CziFile::ReadMetadataXml() const {
  if (header_.metadata_position <= 0) return std::string();
  const uint64_t pos = static_cast<uint64_t>(header_.metadata_position);
  auto seg = ReadSegmentHeader(*file_, pos, "ZISRAWMETADATA");
  if (!seg.ok()) return seg.status().WithContext("metadata");
  uint8_t head[8];
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(pos + kSegmentHeaderSize, 8, head)
                            .WithContext("metadata segment" + At(pos)));
  ByteReader r(head, sizeof head);
  int32_t xml_size;
  (void)r.I32(&xml_size);
  const uint64_t xml_pos = pos + kSegmentHeaderSize + kMetadataSegmentHeaderSize;
  if (xml_size < 0 || static_cast<uint64_t>(xml_size) > kMaxMetadataBytes ||
      !RangeWithin(xml_pos, static_cast<uint64_t>(xml_size), file_->size())) {
    return Status::Corruption(
        fmt::format("metadata segment{}: XML size {} extends past end of file", At(pos), xml_size));
  }
  std::string xml(static_cast<size_t>(xml_size), '\0');
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(xml_pos, xml.size(), xml.data()));
  return xml;
}

Result<SubblockExtent> CziFile::ReadSubblockExtent(uint32_t index) const {
  return ReadSubblockHead(index, nullptr);
}

Result<SubblockExtent> CziFile::ReadSubblockHead(uint32_t index, std::string* metadata) const {
  if (index >= subblocks_.size()) {
    return Status::InvalidArgument(fmt::format("subblock {} does not exist", index));
  }
  const SubblockEntry& e = subblocks_[index];
  const std::string where = fmt::format("subblock {}", index);
  if (e.file_part != 0) {
    return Status::NotSupported(fmt::format(
        "{}: stored in file part {} (multi-part CZI files are not supported)", where, e.file_part));
  }
  const uint64_t pos = static_cast<uint64_t>(e.file_position);
  // One read for the segment header, the fixed part and (usually) the XML:
  // planetable.csv reads this for every subblock.
  constexpr uint64_t kMinHead = kSegmentHeaderSize + 16 + kDvFixedSize;
  constexpr uint64_t kHeadWithXml = kSegmentHeaderSize + 256 + 1024;
  if (!RangeWithin(pos, kMinHead, file_->size())) {
    return Status::Corruption(where + At(pos) + ": segment header extends past end of file");
  }
  const uint64_t want = metadata ? std::min(kHeadWithXml, file_->size() - pos) : kMinHead;
  uint8_t buf[kHeadWithXml];
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(pos, want, buf).WithContext(where));
  ByteReader sr(buf, kSegmentHeaderSize);
  std::string id;
  (void)sr.FixedString(16, &id);
  if (id != "ZISRAWSUBBLOCK") {
    return Status::Corruption(where + ": expected segment 'ZISRAWSUBBLOCK'" + At(pos) +
                              ", found '" + Printable(id) + "'");
  }
  const uint64_t data_pos = pos + kSegmentHeaderSize;
  ByteReader r(buf + kSegmentHeaderSize, 16 + kDvFixedSize);
  int32_t metadata_size, attachment_size, dim_count;
  int64_t data_size;
  (void)r.I32(&metadata_size);
  (void)r.I32(&attachment_size);
  (void)r.I64(&data_size);
  (void)r.Skip(2 + 4 + 8 + 4 + 4 + 6);
  (void)r.I32(&dim_count);
  if (metadata_size < 0 || attachment_size < 0 || data_size < 0) {
    return Status::Corruption(where + At(pos) + ": negative part size in segment header");
  }
  if (dim_count < 0 || static_cast<uint32_t>(dim_count) > kMaxDimensionsPerEntry) {
    return Status::Corruption(fmt::format("{}{}: implausible dimension count {} in segment header",
                                          where, At(pos), dim_count));
  }
  const uint64_t fixed =
      std::max<uint64_t>(256, 16 + kDvFixedSize + kDimEntrySize * static_cast<uint64_t>(dim_count));
  SubblockExtent x;
  x.metadata_offset = data_pos + fixed;
  x.metadata_size = static_cast<uint64_t>(metadata_size);
  x.data_offset = x.metadata_offset + x.metadata_size;
  x.data_size = static_cast<uint64_t>(data_size);
  auto att = CheckedAdd<uint64_t>(x.data_offset, x.data_size);
  if (!att) return Status::Corruption(where + ": data size overflows");
  x.attachment_offset = *att;
  x.attachment_size = static_cast<uint64_t>(attachment_size);
  if (!RangeWithin(x.metadata_offset, x.metadata_size, file_->size()) ||
      !RangeWithin(x.data_offset, x.data_size, file_->size())) {
    return Status::Corruption(
        fmt::format("{}{}: data ({} bytes at offset {}) extends past end of file (size {})", where,
                    At(pos), x.data_size, x.data_offset, file_->size()));
  }
  if (metadata) {
    const uint64_t in_buf = x.metadata_offset - pos;
    if (in_buf + x.metadata_size <= want) {
      metadata->assign(reinterpret_cast<const char*>(buf + in_buf), x.metadata_size);
    } else {
      CZIFS_ASSIGN_OR_RETURN(*metadata, ReadSubblockMetadata(x));
    }
  }
  return x;
}

Result<std::string> CziFile::ReadSubblockMetadata(const SubblockExtent& extent) const {
  if (extent.metadata_size == 0) return std::string();
  if (extent.metadata_size > kMaxMetadataBytes) {
    return Status::Corruption(
        fmt::format("subblock metadata of {} bytes is implausibly large", extent.metadata_size));
  }
  std::string xml(extent.metadata_size, '\0');
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(extent.metadata_offset, xml.size(), xml.data()));
  return xml;
}

Status CziFile::ReadBytes(uint64_t offset, uint64_t length, void* out) const {
  return file_->ReadExact(offset, length, out);
}

Result<std::vector<uint8_t>> CziFile::ReadAttachment(uint32_t index) const {
  if (index >= attachments_.size()) {
    return Status::InvalidArgument(fmt::format("attachment {} does not exist", index));
  }
  const std::string where = fmt::format("attachment {}", index);
  const uint64_t pos = static_cast<uint64_t>(attachments_[index].file_position);
  auto seg = ReadSegmentHeader(*file_, pos, "ZISRAWATTACH");
  if (!seg.ok()) return seg.status().WithContext(where);
  uint8_t head[8];
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(pos + kSegmentHeaderSize, 8, head).WithContext(where));
  ByteReader r(head, sizeof head);
  int64_t size;
  (void)r.I64(&size);
  const uint64_t data_pos = pos + kSegmentHeaderSize + kAttachmentSegmentHeaderSize;
  if (size < 0 || static_cast<uint64_t>(size) > kMaxMetadataBytes ||
      !RangeWithin(data_pos, static_cast<uint64_t>(size), file_->size())) {
    return Status::Corruption(
        fmt::format("{}{}: data size {} extends past end of file", where, At(pos), size));
  }
  std::vector<uint8_t> data(static_cast<size_t>(size));
  CZIFS_RETURN_IF_ERROR(file_->ReadExact(data_pos, data.size(), data.data()));
  return data;
}

}  // namespace czifs
