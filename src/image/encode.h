#pragma once

// Output formats: choosing one for `auto`, metadata policy, and encoding. Internal.

#include <string>
#include <vips/vips8>

#include "recipe/recipe.h"

namespace imgflow::image::detail {

bool supports_alpha(recipe::Format format);
bool supports_animation(recipe::Format format);

// The concrete format for a requested one: `auto` becomes output.auto_alpha for images with
// alpha and output.auto_opaque otherwise (animated sources with animation kept become WebP,
// which animates with alpha at a fraction of GIF's size).
recipe::Format resolve_format(recipe::Format requested, bool has_alpha, bool animated,
                              bool keep_animation, const recipe::Output& output);

// Metadata policy: everything is stripped (GPS included) except, on request, EXIF
// copyright/artist and the ICC profile.
vips::VImage apply_metadata_policy(const vips::VImage& image, const recipe::Metadata& metadata);

// Encodes to `format` with the variant's settings. Throws vips::VError (the engine's boundary
// catches it).
std::string encode(const vips::VImage& image, recipe::Format format, const recipe::Encode& encode,
                   const recipe::Metadata& metadata);

}  // namespace imgflow::image::detail
