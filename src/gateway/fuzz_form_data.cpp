// libFuzzer target: the streaming multipart/form-data reader (browser POST uploads). The first
// byte sets how many bytes each source read yields, so delimiters straddle reads in every way.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/form_data_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = static_cast<std::size_t>(data[0]) + 1;
  imgflow::storage::StringSource source(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), step);
  imgflow::gateway::FormDataReader form(source, "XyZ");
  for (;;) {
    auto part = form.next();
    if (!part || !*part) break;
    if ((*part)->filename) {
      char buf[512];
      for (;;) {
        auto got = form.body().read(buf, sizeof buf);
        if (!got || *got == 0) break;
      }
    } else if (!form.read_value(1024)) {
      break;
    }
  }
  return 0;
}
