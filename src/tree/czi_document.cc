#include "czifs/czi_document.h"

namespace czifs {

Result<std::shared_ptr<const CziDocument>> CziDocument::Open(const std::string& path,
                                                             std::shared_ptr<Session> session,
                                                             const CatalogOptions& options) {
  CZIFS_ASSIGN_OR_RETURN(auto file, RandomAccessFile::Open(path, session->descriptors()));
  return Open(std::move(file), std::move(session), options);
}

Result<std::shared_ptr<const CziDocument>> CziDocument::Open(std::unique_ptr<RandomAccessFile> file,
                                                             std::shared_ptr<Session> session,
                                                             const CatalogOptions& options) {
  std::shared_ptr<CziDocument> doc(new CziDocument());
  CZIFS_ASSIGN_OR_RETURN(doc->czi_, CziFile::Open(std::move(file)));
  CZIFS_ASSIGN_OR_RETURN(doc->index_, ImageIndex::Build(*doc->czi_));
  auto xml = doc->czi_->ReadMetadataXml();
  if (xml.ok()) {
    doc->metadata_xml_ = std::move(xml).value();
    doc->metadata_ = ParseImageMetadata(doc->metadata_xml_);
  } else {
    // Pixels stay reachable without metadata; the problem shows in info.json.
    doc->metadata_.warning = xml.status().ToString();
  }
  CZIFS_ASSIGN_OR_RETURN(doc->catalog_,
                         Catalog::Build(*doc->czi_, doc->index_, doc->metadata_, options));
  doc->reader_ = PageReader::Create(doc->czi_, doc->catalog_, std::move(session));
  return std::shared_ptr<const CziDocument>(std::move(doc));
}

}  // namespace czifs
