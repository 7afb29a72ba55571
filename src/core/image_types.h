#pragma once

#include <optional>
#include <span>
#include <string_view>

// The image media types imgflow takes uploads of: one list for the gateway's anonymous door and
// the upload-URL endpoint of `imgflow lambda`, so the two cannot drift.
namespace imgflow::core {

// One image/<subtype> the engine decodes (it sniffs the bytes anyway: this keeps everything else
// out of the source bucket), and the file extension an object key gets for it.
struct ImageMediaType {
  std::string_view subtype;    // lower case; image/jpg and image/pjpeg are unregistered but common
  std::string_view extension;  // lower case, no dot
};

// JPEG, PNG, WebP, GIF, TIFF, HEIF/HEIC and AVIF, with the names clients use for them.
std::span<const ImageMediaType> image_media_types();

// The entry for `subtype` (compared case-insensitively), or nullopt when it is not one.
std::optional<ImageMediaType> find_image_media_type(std::string_view subtype);

// The extension keys get for a file named with `extension` (case-insensitive, no dot): "jpeg"
// and "jpe" are "jpg", "tif" is "tiff", "hif" is "heif"; nullopt when it is not an image
// extension of the list above.
std::optional<std::string_view> canonical_image_extension(std::string_view extension);

}  // namespace imgflow::core
