// libFuzzer target: core::parse_xml, the one reader of untrusted XML (gateway request bodies and
// S3 responses), under the default limits and tight ones. It also checks the round trip
// the gateway relies on: the text of a parsed element, escaped and parsed again, is unchanged.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/xml.h"

namespace {

void check_round_trip(const imgflow::core::XmlElement& e) {
  if (e.text.find('\0') == std::string::npos) {  // NUL has no XML form; the reader refuses &#0;
    // Escaping can make the text longer than the limit the original passed.
    const imgflow::core::XmlLimits unbounded{.max_bytes = std::numeric_limits<std::size_t>::max()};
    const auto again =
        imgflow::core::parse_xml("<r>" + imgflow::core::xml_escape(e.text) + "</r>", unbounded);
    if (!again || again->text != e.text) __builtin_trap();
  }
  for (const auto& c : e.children) check_round_trip(c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto doc = imgflow::core::parse_xml(text)) check_round_trip(*doc);
  (void)imgflow::core::parse_xml(text, {.max_bytes = 4096, .max_elements = 64, .max_depth = 4});
  return 0;
}
