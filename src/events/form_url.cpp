#include "events/form_url.h"

#include <cstdint>

#include "core/codec.h"
#include "core/text.h"

namespace imgflow::events {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool keep(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '/';
}

}  // namespace

std::string form_url_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (keep(c)) {
      out += ch;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

core::Result<std::string> form_url_decode(std::string_view text) {
  auto out = core::percent_decode_strict(text, /*plus_is_space=*/true);
  if (!out) return out;
  if (!core::is_valid_utf8(*out)) {
    return core::fail(core::ErrorCode::kInvalidArgument, "decoded key is not valid UTF-8");
  }
  return out;
}

}  // namespace imgflow::events
