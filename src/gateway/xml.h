#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/xml.h"
#include "storage/object_store.h"

namespace imgflow::gateway {

// Responses are written with core's writer and escape; these names keep the handlers short.
using core::xml_escape;
using core::XmlWriter;

// The namespace every S3 response document declares on its root element.
inline constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// Request bodies are small XML documents; anything above this is refused before parsing.
inline constexpr std::size_t kMaxXmlBodyBytes = 1 << 20;

// Parses the CompleteMultipartUpload body (core::parse_xml within kMaxXmlBodyBytes; element
// names match without their namespace prefix). A PartNumber must be a decimal int; its range
// and the part order are the store's to check. Errors: kInvalidArgument, reported as
// MalformedXML, with a message that says what is wrong.
core::Result<std::vector<storage::CompletedPart>> parse_complete_multipart(std::string_view xml);

struct DeleteRequest {
  std::vector<std::string> keys;
  bool quiet = false;
};
// Parses the DeleteObjects body (1 to 1,000 keys). Errors as parse_complete_multipart.
core::Result<DeleteRequest> parse_delete_objects(std::string_view xml);

}  // namespace imgflow::gateway
