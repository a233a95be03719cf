// CziFile: the container layer. Parses the file header, the subblock
// directory and the attachment directory of one CZI file, and reads raw
// segment contents on request. Knows bytes and offsets only: no decoding.
//
// Every number read from the file is checked before use; a damaged file
// yields a Corruption status that names the structure and offset.
//
// Thread-safety: immutable after Open(); all const methods may be called
// concurrently (reads go through RandomAccessFile::ReadExact).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "czifs/czi_types.h"
#include "czifs/random_access_file.h"
#include "czifs/status.h"
#include "czifs/subblock_table.h"

namespace czifs {

// Caps on what a directory may claim, so corrupt counts cannot make us
// allocate or loop without bound.
inline constexpr uint32_t kMaxSubblocks = 50'000'000;
inline constexpr uint32_t kMaxDimensionsPerEntry = 64;
inline constexpr uint64_t kMaxMetadataBytes = 256ull << 20;
// No codec czifs reads packs pixels tighter than this (zstd's densest form,
// a run-length block, is 4 bytes for 128 KiB: 32768:1; JPEG and JPEG-XR are
// far below): a compressed subblock of w x h needs at least w*h*bpp / this.
inline constexpr uint64_t kMaxCompressionRatio = 65536;

// Where the parts of one subblock segment lie in the file (absolute offsets).
struct SubblockExtent {
  uint64_t metadata_offset = 0;
  uint64_t metadata_size = 0;
  uint64_t data_offset = 0;
  uint64_t data_size = 0;
  uint64_t attachment_offset = 0;
  uint64_t attachment_size = 0;
};

struct AttachmentEntry {
  int64_t file_position = 0;
  std::string content_type;  // "JPG", "CZTIMS", ...
  std::string name;          // "Thumbnail", "TimeStamps", ...
  std::array<uint8_t, 16> guid{};
};

struct FileHeader {
  int32_t major = 0, minor = 0;
  int32_t file_part = 0;
  int64_t directory_position = 0;
  int64_t metadata_position = 0;
  int64_t attachment_directory_position = 0;
  std::array<uint8_t, 16> primary_file_guid{};
  std::array<uint8_t, 16> file_guid{};
};

class CziFile {
 public:
  // Opens `path` and parses header and directories.
  static Result<std::shared_ptr<const CziFile>> Open(const std::string& path);
  // Parses an already opened file (used by tests and fuzzers).
  static Result<std::shared_ptr<const CziFile>> Open(std::unique_ptr<RandomAccessFile> file);

  const std::string& path() const { return file_->path(); }
  // Who the file was when opened (its content is checked against it on every read).
  const FileIdentity& identity() const { return file_->identity(); }
  uint64_t file_size() const { return file_->size(); }
  const FileHeader& header() const { return header_; }
  const SubblockTable& subblocks() const { return subblocks_; }
  const std::vector<AttachmentEntry>& attachments() const { return attachments_; }

  // The digest of the bytes that stand for its content (header,
  // directories, metadata), and whether `now` is still this version (see
  // RandomAccessFile::IsSameVersion).
  uint64_t fingerprint() const { return file_->fingerprint(); }
  Result<bool> IsSameVersion(const FileIdentity& now) const { return file_->IsSameVersion(now); }
  // The directory entries whose stored size the file cannot hold (their
  // pixels need more bytes than lie between their position and the next
  // segment, even compressed at kMaxCompressionRatio), by entry index, with
  // what they claim: each is a damaged tile (SubblockEntry::size_damaged),
  // left out of scene boxes and tiles/.
  const std::map<uint32_t, std::string>& size_problems() const { return size_problems_; }
  // Returns an IOError if the file changed since it was opened.
  Status CheckUnchanged() const { return file_->CheckUnchanged(); }
  // Returns the XML metadata document, or "" if the file has none.
  Result<std::string> ReadMetadataXml() const;
  // Reads the segment header of subblock `index` and checks its parts lie in the file.
  Result<SubblockExtent> ReadSubblockExtent(uint32_t index) const;
  // Like ReadSubblockExtent, and also returns the subblock's XML metadata in
  // `metadata` (one read for both in the common case).
  Result<SubblockExtent> ReadSubblockHead(uint32_t index, std::string* metadata) const;
  // Returns the subblock's XML metadata ("" if none).
  Result<std::string> ReadSubblockMetadata(const SubblockExtent& extent) const;
  // Reads `length` bytes at absolute `offset` (REQUIRES: inside a checked extent).
  Status ReadBytes(uint64_t offset, uint64_t length, void* out) const;
  // Reads `rows` back-to-back runs of `row_bytes` from `offset` into `out`,
  // `out_stride` apart (REQUIRES: inside a checked extent).
  Status ReadRows(uint64_t offset, size_t row_bytes, size_t rows, uint8_t* out,
                  size_t out_stride) const {
    return file_->ReadRows(offset, row_bytes, rows, out, out_stride);
  }
  // Returns the data of attachment `index`.
  Result<std::vector<uint8_t>> ReadAttachment(uint32_t index) const;

 private:
  CziFile() = default;
  Status Parse();
  Status ParseDirectory();
  Status ParseAttachmentDirectory();
  // Marks the entries whose stored size the file cannot hold.
  void CheckSizesAgainstRoom();
  // The file's fingerprint (see RandomAccessFile): its segments that were parsed.
  std::vector<ByteRange> FingerprintRanges() const;

  // Constant after Open().
  std::unique_ptr<RandomAccessFile> file_;
  FileHeader header_;
  SubblockTable subblocks_;
  std::vector<AttachmentEntry> attachments_;
  std::map<uint32_t, std::string> size_problems_;
};

}  // namespace czifs
