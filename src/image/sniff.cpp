// Magic-byte sniffing. The allow-list here is the security boundary: only these formats ever
// reach a libvips loader, and only through that format's own loader.
#include <algorithm>
#include <array>
#include <cctype>

#include "image/image.h"

namespace imgflow::image {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// ISO-BMFF (HEIF/AVIF): "ftyp" box at offset 4 and a brand we accept, major or compatible.
core::Result<SourceFormat> sniff_bmff(std::string_view head) {
  if (head.size() < 16 || head.substr(4, 4) != "ftyp")
    return core::fail(core::ErrorCode::kCorrupt, "");
  static constexpr std::array<std::string_view, 2> kAvif = {"avif", "avis"};
  static constexpr std::array<std::string_view, 7> kHeif = {"heic", "heix", "heim", "heis",
                                                            "hevc", "hevx", "mif1"};
  // The box size bounds where compatible brands can be; look only within the bytes we have.
  const auto box_size = (std::uint32_t(std::uint8_t(head[0])) << 24U) |
                        (std::uint32_t(std::uint8_t(head[1])) << 16U) |
                        (std::uint32_t(std::uint8_t(head[2])) << 8U) | std::uint8_t(head[3]);
  const std::size_t end = std::min<std::size_t>(head.size(), box_size);
  bool heif = false;
  for (std::size_t pos = 8; pos + 4 <= end; pos += 4) {
    if (pos == 12) continue;  // minor version, not a brand
    const std::string_view brand = head.substr(pos, 4);
    if (std::ranges::find(kAvif, brand) != kAvif.end()) return SourceFormat::kAvif;
    if (std::ranges::find(kHeif, brand) != kHeif.end()) heif = true;
  }
  if (heif) return SourceFormat::kHeif;
  return core::fail(core::ErrorCode::kUnsupported,
                    "ISO media file that is neither HEIF nor AVIF (brand '" +
                        std::string(head.substr(8, 4)) + "')");
}

// A best-effort name for what a refused file looks like, so the error helps the user.
std::string describe_unsupported(std::string_view head) {
  std::string_view trimmed = head;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  if (starts_with(trimmed, "\xEF\xBB\xBF")) trimmed.remove_prefix(3);
  if (starts_with(trimmed, "<svg") || starts_with(trimmed, "<?xml")) return "SVG/XML";
  if (starts_with(head, "%PDF")) return "PDF";
  if (starts_with(head, "8BPS")) return "PSD";
  if (starts_with(head, "BM")) return "BMP";
  if (starts_with(head, "%!PS")) return "PostScript";
  if (starts_with(head, "push graphic-context") || starts_with(trimmed, "viewbox")) return "MVG";
  if (starts_with(trimmed, "<image") || starts_with(trimmed, "<!DOCTYPE")) return "MSL/markup";
  if (starts_with(head, "\xFF\x0A") || starts_with(head, std::string_view("\0\0\0\x0CJXL ", 8))) {
    return "JPEG XL";
  }
  const bool printable = std::ranges::all_of(head, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isprint(u) || std::isspace(u) || u >= 0x80;
  });
  return printable ? "text" : "unrecognised binary data";
}

}  // namespace

std::string_view to_string(SourceFormat format) {
  switch (format) {
    case SourceFormat::kJpeg:
      return "jpeg";
    case SourceFormat::kPng:
      return "png";
    case SourceFormat::kWebp:
      return "webp";
    case SourceFormat::kGif:
      return "gif";
    case SourceFormat::kTiff:
      return "tiff";
    case SourceFormat::kHeif:
      return "heif";
    case SourceFormat::kAvif:
      return "avif";
  }
  return "unknown";
}

core::Result<SourceFormat> sniff(std::string_view head) {
  if (head.empty()) return core::fail(core::ErrorCode::kCorrupt, "empty file");
  if (starts_with(head, "\xFF\xD8\xFF")) return SourceFormat::kJpeg;
  if (starts_with(head, "\x89PNG\r\n\x1A\n")) return SourceFormat::kPng;
  if (starts_with(head, "GIF87a") || starts_with(head, "GIF89a")) return SourceFormat::kGif;
  if (head.size() >= 12 && starts_with(head, "RIFF") && head.substr(8, 4) == "WEBP") {
    return SourceFormat::kWebp;
  }
  if (starts_with(head, std::string_view("II*\0", 4)) ||
      starts_with(head, std::string_view("MM\0*", 4))) {
    return SourceFormat::kTiff;
  }
  if (head.size() >= 8 && head.substr(4, 4) == "ftyp") {
    auto bmff = sniff_bmff(head);
    if (bmff || bmff.error().code != core::ErrorCode::kCorrupt) return bmff;
    return core::fail(core::ErrorCode::kCorrupt, "truncated HEIF/AVIF header");
  }
  if (head.size() < 4) {
    return core::fail(core::ErrorCode::kCorrupt, "file of " + std::to_string(head.size()) +
                                                     " bytes is too short to be an image");
  }
  return core::fail(core::ErrorCode::kUnsupported,
                    describe_unsupported(head.substr(0, 64)) +
                        " is not an accepted image format (accepted: JPEG, PNG, WebP, GIF, TIFF, "
                        "HEIF/HEIC, AVIF)");
}

}  // namespace imgflow::image
