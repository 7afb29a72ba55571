// libFuzzer target: parse_event on arbitrary bytes. Whatever parses must survive a round trip
// through to_aws_json unchanged (ObjectRemoved records drop size and eTag, as AWS does).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "events/event_json.h"
#include "events/event_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow::events;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto records = parse_event(input);
  if (!records) return 0;
  for (auto& r : *records) {
    if (r.kind() == EventKind::kRemoved) r.size = 0, r.etag.clear();
  }
  const auto again = parse_event(to_aws_json(*records));
  if (!again || *again != *records) __builtin_trap();
  return 0;
}
