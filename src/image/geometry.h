#pragma once

// Resize arithmetic, kept free of libvips so it can be tested exhaustively.

#include <utility>

#include "recipe/recipe.h"

namespace imgflow::image {

struct Size {
  int width = 0;
  int height = 0;
  bool operator==(const Size&) const = default;
};

// What a variant makes of a source of `source` size (display orientation): the size the
// source is resized to, then the canvas it is cropped (cover) or padded (contain) to.
struct VariantPlan {
  Size resized;
  Size canvas;
};

// Follows sharp's semantics for `fit`; a 0 width or height is derived from the aspect ratio.
// Without `upscale` a source smaller than the box keeps its size (cover/contain then crop or
// pad only where the source exceeds, never enlarging).
VariantPlan plan_variant(const recipe::Resize& resize, Size source);

// Top-left corner of a `box` crop of an `image` for a directional gravity (attention and
// entropy are content-aware and handled by libvips; they map to centre here).
std::pair<int, int> crop_origin(recipe::Gravity gravity, Size image, Size box);

// Top-left corner of a `mark` on a `canvas` at `position`, `margin` px from the edges.
std::pair<int, int> mark_origin(recipe::Position position, Size canvas, Size mark, int margin);

// The largest scale factor (<= 1) any of the plans needs from a source of `source` size:
// decoding at that size serves every variant.
double needed_scale(const std::vector<VariantPlan>& plans, Size source);

}  // namespace imgflow::image
