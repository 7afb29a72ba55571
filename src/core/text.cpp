#include "core/text.h"

#include <array>
#include <cstdint>
#include <cstdio>

namespace imgflow::core {

std::size_t utf8_sequence_length(std::string_view bytes) {
  if (bytes.empty()) return 0;
  const auto lead = static_cast<unsigned char>(bytes[0]);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t cp = 0;
  if ((lead & 0xE0U) == 0xC0) {
    length = 2, cp = lead & 0x1FU;
  } else if ((lead & 0xF0U) == 0xE0) {
    length = 3, cp = lead & 0x0FU;
  } else if ((lead & 0xF8U) == 0xF0) {
    length = 4, cp = lead & 0x07U;
  } else {
    return 0;
  }
  if (bytes.size() < length) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const auto b = static_cast<unsigned char>(bytes[k]);
    if ((b & 0xC0U) != 0x80) return 0;
    cp = (cp << 6U) | (b & 0x3FU);
  }
  constexpr std::array<std::uint32_t, 5> kMinForLength = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return length;
}

bool is_valid_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t length = utf8_sequence_length(bytes.substr(i));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::u32string utf8_code_points(std::string_view utf8) {
  std::u32string out;
  for (std::size_t i = 0; i < utf8.size();) {
    const std::size_t length = utf8_sequence_length(utf8.substr(i));
    if (length == 0) {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    constexpr std::array<unsigned, 5> kLeadBits = {0, 0x7F, 0x1F, 0x0F, 0x07};
    auto cp = static_cast<char32_t>(static_cast<unsigned char>(utf8[i]) & kLeadBits[length]);
    for (std::size_t k = 1; k < length; ++k) {
      cp = (cp << 6U) | (static_cast<unsigned char>(utf8[i + k]) & 0x3FU);
    }
    out += cp;
    i += length;
  }
  return out;
}

std::string escape_for_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = utf8_sequence_length(text.substr(i));
    const bool control = c < 0x20 || c == 0x7F;
    // U+0080..U+009F, the C1 controls, are C2 80..C2 9F in UTF-8.
    const bool c1 = length == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if (length == 0 || control || c1) {
      std::array<char, 5> hex{};
      std::snprintf(hex.data(), hex.size(), "\\x%02X", c);
      out += hex.data();
      length = 1;
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

}  // namespace imgflow::core
