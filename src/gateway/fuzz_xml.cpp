// libFuzzer target: the request-body XML parsers (CompleteMultipartUpload, DeleteObjects).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/xml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)imgflow::gateway::parse_complete_multipart(text);
  (void)imgflow::gateway::parse_delete_objects(text);
  (void)imgflow::gateway::xml_escape(text);
  return 0;
}
