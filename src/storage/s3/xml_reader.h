#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace imgflow::storage::s3 {

// A parsed XML element: enough of XML for S3 response bodies (ListObjectsV2, errors, multipart).
// Namespaces are kept as written in the name ("ListBucketResult"; prefixes stay), attributes are
// skipped, text is the concatenated, entity-decoded character data of the element itself.
struct XmlElement {
  std::string name;
  std::string text;
  std::vector<XmlElement> children;

  // The first child named `name`, or nullptr.
  const XmlElement* child(std::string_view child_name) const;
  // The text of the first child named `name`; empty when absent.
  std::string child_text(std::string_view child_name) const;
  // Every child named `name`, in document order.
  std::vector<const XmlElement*> all(std::string_view child_name) const;
};

struct XmlLimits {
  std::size_t max_bytes = 16 << 20;    // a 1,000-key listing is well under 1 MiB
  std::size_t max_elements = 200'000;  // ~10 elements per listed key
  int max_depth = 16;                  // S3 bodies nest 3 deep
};

// Parses one document: an optional <?xml ...?> declaration, comments, then one root element.
// DOCTYPE and processing instructions other than the declaration are refused (no entity
// expansion attacks). Errors: kCorrupt for malformed XML, kTooLarge past `limits`. Pure.
core::Result<XmlElement> parse_xml(std::string_view text, const XmlLimits& limits = {});

// Escapes &, <, >, " and ' for element text.
std::string xml_escape(std::string_view text);

}  // namespace imgflow::storage::s3
