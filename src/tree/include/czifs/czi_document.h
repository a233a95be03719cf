// CziDocument: one opened CZI, everything czifs serves from it: the parsed
// file, its ImageIndex, metadata, Catalog of served TIFFs and the
// PageReader that produces their bytes. Built from the directory without
// decoding pixels.
//
// Thread-safety: immutable after Open(); share it freely.
#pragma once

#include <memory>
#include <string>

#include "czifs/catalog.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/metadata.h"
#include "czifs/page_reader.h"
#include "czifs/report.h"

namespace czifs {

class CziDocument {
 public:
  // Parses `path` and lays out every plane's TIFF. Decodes nothing.
  static Result<std::shared_ptr<const CziDocument>> Open(const std::string& path,
                                                         std::shared_ptr<Session> session,
                                                         const CatalogOptions& options = {});
  // The same for a file already opened (e.g. beneath a source folder).
  static Result<std::shared_ptr<const CziDocument>> Open(std::unique_ptr<RandomAccessFile> file,
                                                         std::shared_ptr<Session> session,
                                                         const CatalogOptions& options = {});

  const CziFile& czi() const { return *czi_; }
  const ImageIndex& index() const { return *index_; }
  const ImageMetadata& metadata() const { return *metadata_; }
  const std::string& metadata_xml() const { return metadata_xml_; }
  const Catalog& catalog() const { return *catalog_; }
  const PageReader& reader() const { return *reader_; }
  ReportInput report() const { return {*czi_, *index_, *metadata_, *catalog_}; }
  // Bytes it holds: the directory, the index, the catalogue, the metadata.
  size_t MemoryBytes() const;

 private:
  CziDocument() = default;
  std::shared_ptr<const CziFile> czi_;
  std::shared_ptr<const ImageIndex> index_;
  std::shared_ptr<const ImageMetadata> metadata_;
  std::string metadata_xml_;
  std::shared_ptr<const Catalog> catalog_;
  std::shared_ptr<const PageReader> reader_;
};

}  // namespace czifs
