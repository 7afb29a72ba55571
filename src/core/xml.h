#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace imgflow::core {

// A parsed XML element: enough of XML for S3 request and response bodies. Names are kept as
// written (a namespace prefix stays part of the name), attributes are skipped, and text is the
// concatenated, entity-decoded character data of the element itself (whitespace kept as sent).
struct XmlElement {
  std::string name;
  std::string text;
  std::vector<XmlElement> children;

  // The first child named `child_name`, or nullptr.
  const XmlElement* child(std::string_view child_name) const;
  // The text of the first child named `child_name`; empty when absent.
  std::string child_text(std::string_view child_name) const;
  // Every child named `child_name`, in document order.
  std::vector<const XmlElement*> all(std::string_view child_name) const;
};

struct XmlLimits {
  std::size_t max_bytes = 16 << 20;    // a 1,000-key listing is well under 1 MiB
  std::size_t max_elements = 200'000;  // ~10 elements per listed key
  int max_depth = 16;                  // S3 bodies nest 3 deep; the root element is depth 1
};

// Parses one untrusted document: whitespace, an optional <?xml ...?> declaration (first, once),
// comments, then exactly one root element. Only the five predefined entities and character
// references exist; DOCTYPE, CDATA and processing instructions are refused, so no entity
// expansion can happen. Errors: kCorrupt for malformed XML (the message names the byte offset),
// kTooLarge past `limits`. Pure; recursion is bounded by `limits.max_depth`.
Result<XmlElement> parse_xml(std::string_view text, const XmlLimits& limits = {});

// Escapes text for an element or a quoted attribute: &, <, >, " and ', and control characters
// other than tab, LF and CR (which XML 1.0 cannot carry literally) as numeric references, which
// S3 clients accept. parse_xml decodes the result back to `text` unless it holds a NUL byte.
std::string xml_escape(std::string_view text);

// Builds an XML document; every document starts with the XML declaration.
class XmlWriter {
 public:
  XmlWriter();
  // A non-empty `xmlns` adds it as the default namespace attribute.
  void open(std::string_view name, std::string_view xmlns = {});
  void close(std::string_view name);
  // <name>escaped text</name>
  void element(std::string_view name, std::string_view text);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace imgflow::core
