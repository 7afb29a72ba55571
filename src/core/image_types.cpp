#include "core/image_types.h"

#include <array>

#include "core/codec.h"

namespace imgflow::core {
namespace {

constexpr std::array<ImageMediaType, 13> kImageMediaTypes = {{
    {"jpeg", "jpg"},
    {"jpg", "jpg"},
    {"pjpeg", "jpg"},
    {"png", "png"},
    {"apng", "png"},
    {"webp", "webp"},
    {"gif", "gif"},
    {"tiff", "tiff"},
    {"heic", "heic"},
    {"heic-sequence", "heic"},
    {"heif", "heif"},
    {"heif-sequence", "heif"},
    {"avif", "avif"},
}};

// File extensions that are other spellings of one of the list's.
constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kExtensionAliases = {{
    {"jpeg", "jpg"},
    {"jpe", "jpg"},
    {"tif", "tiff"},
    {"hif", "heif"},
}};

}  // namespace

std::span<const ImageMediaType> image_media_types() { return kImageMediaTypes; }

std::optional<ImageMediaType> find_image_media_type(std::string_view subtype) {
  for (const ImageMediaType& type : kImageMediaTypes) {
    if (iequals(subtype, type.subtype)) return type;
  }
  return std::nullopt;
}

std::optional<std::string_view> canonical_image_extension(std::string_view extension) {
  for (const ImageMediaType& type : kImageMediaTypes) {
    if (iequals(extension, type.extension)) return type.extension;
  }
  for (const auto& [alias, canonical] : kExtensionAliases) {
    if (iequals(extension, alias)) return canonical;
  }
  return std::nullopt;
}

}  // namespace imgflow::core
