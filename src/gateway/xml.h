#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "storage/object_store.h"

namespace imgflow::gateway {

// Escapes text for an XML element or attribute (&, <, >, ", ' and control characters, which
// XML 1.0 cannot carry, as numeric references S3 clients accept).
std::string xml_escape(std::string_view text);

// Builds an XML document; every document starts with the XML declaration.
class XmlWriter {
 public:
  XmlWriter();
  // `xmlns` non-empty adds the S3 namespace attribute.
  void open(std::string_view name, bool s3_namespace = false);
  void close(std::string_view name);
  void element(std::string_view name, std::string_view text);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Request bodies are small XML documents; anything above this is refused before parsing.
inline constexpr std::size_t kMaxXmlBodyBytes = 1 << 20;

// Parses the CompleteMultipartUpload body. Errors: kInvalidArgument (reported as MalformedXML).
// DOCTYPE and entity declarations are refused, so no entity expansion can happen.
core::Result<std::vector<storage::CompletedPart>> parse_complete_multipart(std::string_view xml);

struct DeleteRequest {
  std::vector<std::string> keys;
  bool quiet = false;
};
// Parses the DeleteObjects body (at most 1,000 keys). Errors as parse_complete_multipart.
core::Result<DeleteRequest> parse_delete_objects(std::string_view xml);

}  // namespace imgflow::gateway
