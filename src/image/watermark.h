#pragma once

// Watermarks: an image overlay or rendered text, prepared once per process and composited per
// variant. Internal to the image module.

#include <vips/vips8>

#include "core/result.h"
#include "recipe/recipe.h"

namespace imgflow::image::detail {

// The mark at its natural size as sRGB 8-bit RGBA, opacity folded into alpha; text gets a halo
// of the opposite brightness, so it shows on any background. Prepared once per
// distinct watermark and cached for the life of the process (a recipe has one watermark, so
// the cache stays tiny). Thread-safe. kCorrupt/kUnsupported if the watermark image is bad.
core::Result<vips::VImage> prepared_mark(const recipe::Watermark& watermark);

struct Marked {
  vips::VImage image;
  bool visible = false;  // the mark changed some pixel by a visible amount (first frame)
};

// Composites `mark` onto `image` (sRGB or grey 8-bit, any alpha, possibly animated) following
// `watermark`'s position, margin, scale and tiling. Only the region under the mark is
// recomposited, so the cost scales with the mark, not the image. Whether the mark can be seen
// is measured on that region (a faint mark on a background of its own colour cannot).
Marked apply_watermark(const vips::VImage& image, const vips::VImage& mark,
                       const recipe::Watermark& watermark);

}  // namespace imgflow::image::detail
