#include "czifs/czi_document.h"

namespace czifs {

Result<std::shared_ptr<const CziDocument>> CziDocument::Open(const std::string& path,
                                                             std::shared_ptr<Session> session,
                                                             const CatalogOptions& options) {
  CZIFS_ASSIGN_OR_RETURN(auto file,
                         RandomAccessFile::Open(path, session->descriptors(), session->fs()));
  return Open(std::move(file), std::move(session), options);
}

Result<std::shared_ptr<const CziDocument>> CziDocument::Open(std::unique_ptr<RandomAccessFile> file,
                                                             std::shared_ptr<Session> session,
                                                             const CatalogOptions& options) {
  std::shared_ptr<CziDocument> doc(new CziDocument());
  session->parsed.fetch_add(1, std::memory_order_relaxed);
  CZIFS_ASSIGN_OR_RETURN(doc->czi_, CziFile::Open(std::move(file)));
  CZIFS_ASSIGN_OR_RETURN(ImageIndex index, ImageIndex::Build(*doc->czi_));
  doc->index_ = std::make_shared<const ImageIndex>(std::move(index));
  auto xml = doc->czi_->ReadMetadataXml();
  // Storage that failed (or a file that changed meanwhile) is not a file
  // without metadata: the open fails and is tried again, rather than serve
  // a tree without calibration until the file changes.
  if (!xml.ok() && (xml.status().code() == StatusCode::kIOError ||
                    xml.status().code() == StatusCode::kResourceExhausted)) {
    return xml.status().WithContext("metadata");
  }
  auto metadata = std::make_shared<ImageMetadata>();
  if (xml.ok()) {
    doc->metadata_xml_ = std::move(xml).value();
    *metadata = ParseImageMetadata(doc->metadata_xml_);
  } else {
    // Pixels stay reachable without metadata; the problem shows in info.json.
    metadata->warning = xml.status().ToString();
  }
  doc->metadata_ = std::move(metadata);
  CZIFS_ASSIGN_OR_RETURN(doc->catalog_,
                         Catalog::Build(doc->czi_, doc->index_, doc->metadata_, options));
  doc->reader_ = PageReader::Create(doc->czi_, doc->catalog_, std::move(session));
  return std::shared_ptr<const CziDocument>(std::move(doc));
}

size_t CziDocument::MemoryBytes() const {
  return sizeof(*this) + czi_->subblocks().MemoryBytes().total() + index_->MemoryBytes() +
         catalog_->MemoryBytes() +
         metadata_xml_.capacity() * 2;  // the XML, and what it parsed into
}

}  // namespace czifs
