#include "image/encode.h"

#include <glib.h>

#include <algorithm>
#include <memory>
#include <string_view>
#include <vector>

#include "image/vips_util.h"

namespace imgflow::image::detail {
namespace {

using recipe::Format;
using vips::VImage;

// EXIF fields a photographer may want to keep; everything else identifies people or places.
constexpr std::string_view kKeptExif[] = {"exif-ifd0-Copyright", "exif-ifd0-Artist"};

bool keeps_any(const recipe::Metadata& m) { return m.keep_copyright || m.keep_icc; }

// libvips' built-in sRGB profile, loaded once and kept for the life of the process.
const VipsBlob* srgb_profile() {
  static VipsBlob* const profile = VImage::profile_load("srgb");
  return profile;
}

}  // namespace

bool supports_alpha(Format format) { return format != Format::kJpeg; }

bool supports_animation(Format format) { return format == Format::kGif || format == Format::kWebp; }

Format resolve_format(Format requested, bool has_alpha, bool animated, bool keep_animation,
                      const recipe::Output& output) {
  if (requested != Format::kAuto) return requested;
  if (animated && keep_animation) return Format::kWebp;
  return has_alpha ? output.auto_alpha : output.auto_opaque;
}

VImage apply_metadata_policy(const VImage& image, const recipe::Metadata& metadata) {
  // Removed here rather than only with the savers' `strip`: libvips 8.14's WebP saver still
  // writes the EXIF blob (GPS included) when asked to strip.
  VImage out = image.copy();
  std::vector<std::string> remove;
  for (const std::string& field : field_names(out)) {
    const bool exif_field = field.rfind("exif-", 0) == 0;
    const bool kept_exif =
        metadata.keep_copyright &&
        std::find(std::begin(kKeptExif), std::end(kKeptExif), field) != std::end(kKeptExif);
    const bool kept_icc = metadata.keep_icc && field == VIPS_META_ICC_NAME;
    // The EXIF blob is rebuilt by the saver from the surviving exif-ifd* fields.
    if ((exif_field && !kept_exif) || field == VIPS_META_XMP_NAME || field == VIPS_META_IPTC_NAME ||
        field == VIPS_META_PHOTOSHOP_NAME || (field == VIPS_META_ICC_NAME && !kept_icc) ||
        field == VIPS_META_ORIENTATION) {
      remove.push_back(field);
    }
  }
  for (const std::string& field : remove) out.remove(field.c_str());
  // keep_icc promises an embedded profile: the outputs are sRGB, so a source that had none (or
  // lost it) gets libvips' sRGB profile. Grey outputs have no sRGB profile to take.
  const bool rgb = out.interpretation() == VIPS_INTERPRETATION_sRGB && out.bands() >= 3;
  if (metadata.keep_icc && rgb && out.get_typeof(VIPS_META_ICC_NAME) == 0) {
    const VipsBlob* srgb = srgb_profile();
    std::size_t size = 0;
    const void* data = vips_blob_get(const_cast<VipsBlob*>(srgb), &size);
    vips_image_set_blob_copy(out.get_image(), VIPS_META_ICC_NAME, data, size);
  }
  return out;
}

std::string encode(const VImage& image, Format format, const recipe::Encode& e,
                   const recipe::Metadata& metadata) {
  const bool strip = !keeps_any(metadata);
  VImage in = apply_metadata_policy(image, metadata);
  switch (format) {
    case Format::kJpeg:
      return take_blob(in.jpegsave_buffer(
          VImage::option()
              ->set("Q", e.quality)
              ->set("interlace", e.progressive)
              ->set("optimize_coding", true)
              ->set("subsample_mode",
                    e.chroma_subsampling ? VIPS_FOREIGN_SUBSAMPLE_ON : VIPS_FOREIGN_SUBSAMPLE_OFF)
              ->set("strip", strip)));
    case Format::kPng:
      return take_blob(in.pngsave_buffer(VImage::option()
                                             ->set("compression", e.png_compression)
                                             ->set("palette", e.png_palette)
                                             ->set("Q", e.quality)
                                             ->set("strip", strip)));
    case Format::kWebp:
      return take_blob(
          in.webpsave_buffer(VImage::option()
                                 ->set("Q", e.quality)
                                 ->set("lossless", e.lossless)
                                 ->set("effort", std::min(e.effort, 6))  // WebP stops at 6
                                 ->set("strip", strip)));
    case Format::kAvif:
      require_heif();
      return take_blob(
          in.heifsave_buffer(VImage::option()
                                 ->set("Q", e.quality)
                                 ->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)
                                 ->set("effort", e.effort)
                                 ->set("lossless", e.lossless)
                                 ->set("strip", strip)));
    case Format::kGif:
      return take_blob(in.gifsave_buffer(VImage::option()->set("strip", strip)));
    case Format::kAuto:
      throw vips::VError("encode: format must be resolved before encoding");
  }
  return {};
}

}  // namespace imgflow::image::detail
