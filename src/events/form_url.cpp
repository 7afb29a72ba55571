#include "events/form_url.h"

#include <cstdint>

namespace imgflow::events {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool keep(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '/';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the UTF-8 sequence starting at `lead` and the minimum code point it may encode.
bool utf8_lead(unsigned char lead, int& extra, std::uint32_t& cp) {
  if (lead < 0x80) return extra = 0, cp = lead, true;
  if (lead >= 0xC2 && lead <= 0xDF) return extra = 1, cp = lead & 0x1FU, true;
  if (lead >= 0xE0 && lead <= 0xEF) return extra = 2, cp = lead & 0x0FU, true;
  if (lead >= 0xF0 && lead <= 0xF4) return extra = 3, cp = lead & 0x07U, true;
  return false;
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
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int lo = hi >= 0 ? hex_value(text[i + 2]) : -1;
      if (lo < 0) {
        return core::fail(core::ErrorCode::kInvalidArgument,
                          "bad percent-encoding at offset " + std::to_string(i) +
                              ": '%' must be followed by two hex digits");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  if (!is_valid_utf8(out)) {
    return core::fail(core::ErrorCode::kInvalidArgument, "decoded key is not valid UTF-8");
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    int extra = 0;
    std::uint32_t cp = 0;
    if (!utf8_lead(static_cast<unsigned char>(bytes[i]), extra, cp)) return false;
    if (bytes.size() - i <= static_cast<std::size_t>(extra)) return false;  // truncated
    for (int k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(bytes[i + static_cast<std::size_t>(k)]);
      if ((b & 0xC0U) != 0x80U) return false;
      cp = (cp << 6) | (b & 0x3FU);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += static_cast<std::size_t>(extra) + 1;
  }
  return true;
}

}  // namespace imgflow::events
