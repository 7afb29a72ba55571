#include "image/geometry.h"

#include <algorithm>
#include <cmath>

namespace imgflow::image {
namespace {

using recipe::Fit;

int scaled(int length, double scale) {
  return std::max(1, static_cast<int>(std::lround(length * scale)));
}

// The box with a 0 side filled in from the source's aspect ratio.
Size complete_box(const recipe::Resize& resize, Size source) {
  Size box{resize.width, resize.height};
  if (box.width == 0 && box.height == 0) return source;
  if (box.width == 0) box.width = scaled(source.width, double(box.height) / source.height);
  if (box.height == 0) box.height = scaled(source.height, double(box.width) / source.width);
  return box;
}

}  // namespace

VariantPlan plan_variant(const recipe::Resize& resize, Size source) {
  const Size box = complete_box(resize, source);
  const double sx = double(box.width) / source.width;
  const double sy = double(box.height) / source.height;
  VariantPlan plan;
  switch (resize.fit) {
    case Fit::kInside:
    case Fit::kContain: {
      double s = std::min(sx, sy);
      if (!resize.upscale) s = std::min(s, 1.0);
      // The constrained side gets the exact box length, not a rounding of it.
      plan.resized = {sx <= sy && s == sx ? box.width : scaled(source.width, s),
                      sy <= sx && s == sy ? box.height : scaled(source.height, s)};
      // contain always pads to the box: callers rely on the exact canvas size.
      plan.canvas = resize.fit == Fit::kContain ? box : plan.resized;
      break;
    }
    case Fit::kCover:
    case Fit::kOutside: {
      double s = std::max(sx, sy);
      if (!resize.upscale) s = std::min(s, 1.0);
      plan.resized = {sx >= sy && s == sx ? box.width : scaled(source.width, s),
                      sy >= sx && s == sy ? box.height : scaled(source.height, s)};
      plan.canvas = plan.resized;
      if (resize.fit == Fit::kCover) {
        // A source too small for the box is not enlarged, but is still cropped to the box's
        // shape (imgproxy's fill-down): a 200x200 thumbnail of a 160x120 source is a 120x120
        // square, as a square thumbnail slot expects, not 160x120.
        const double f = std::min({1.0, double(plan.resized.width) / box.width,
                                   double(plan.resized.height) / box.height});
        plan.canvas = {std::min(plan.resized.width, scaled(box.width, f)),
                       std::min(plan.resized.height, scaled(box.height, f))};
      }
      break;
    }
    case Fit::kFill: {
      const double fx = resize.upscale ? sx : std::min(sx, 1.0);
      const double fy = resize.upscale ? sy : std::min(sy, 1.0);
      plan.resized = {fx == sx ? box.width : scaled(source.width, fx),
                      fy == sy ? box.height : scaled(source.height, fy)};
      plan.canvas = plan.resized;
      break;
    }
  }
  return plan;
}

std::pair<int, int> crop_origin(recipe::Gravity gravity, Size image, Size box) {
  using recipe::Gravity;
  const int free_x = std::max(0, image.width - box.width);
  const int free_y = std::max(0, image.height - box.height);
  int x = free_x / 2;
  int y = free_y / 2;
  switch (gravity) {
    case Gravity::kNorth:
      y = 0;
      break;
    case Gravity::kNorthEast:
      x = free_x;
      y = 0;
      break;
    case Gravity::kEast:
      x = free_x;
      break;
    case Gravity::kSouthEast:
      x = free_x;
      y = free_y;
      break;
    case Gravity::kSouth:
      y = free_y;
      break;
    case Gravity::kSouthWest:
      x = 0;
      y = free_y;
      break;
    case Gravity::kWest:
      x = 0;
      break;
    case Gravity::kNorthWest:
      x = 0;
      y = 0;
      break;
    case Gravity::kCentre:
    case Gravity::kAttention:
    case Gravity::kEntropy:
      break;
  }
  return {x, y};
}

std::pair<int, int> mark_origin(recipe::Position position, Size canvas, Size mark, int margin) {
  using recipe::Position;
  const int left = margin;
  const int right = canvas.width - mark.width - margin;
  const int centre_x = (canvas.width - mark.width) / 2;
  const int top = margin;
  const int bottom = canvas.height - mark.height - margin;
  const int centre_y = (canvas.height - mark.height) / 2;
  switch (position) {
    case Position::kTopLeft:
      return {left, top};
    case Position::kTop:
      return {centre_x, top};
    case Position::kTopRight:
      return {right, top};
    case Position::kLeft:
      return {left, centre_y};
    case Position::kCentre:
      return {centre_x, centre_y};
    case Position::kRight:
      return {right, centre_y};
    case Position::kBottomLeft:
      return {left, bottom};
    case Position::kBottom:
      return {centre_x, bottom};
    case Position::kBottomRight:
      return {right, bottom};
  }
  return {right, bottom};
}

double needed_scale(const std::vector<VariantPlan>& plans, Size source) {
  double scale = 0.0;
  for (const VariantPlan& plan : plans) {
    scale = std::max({scale, double(plan.resized.width) / source.width,
                      double(plan.resized.height) / source.height});
  }
  return std::min(scale, 1.0);
}

}  // namespace imgflow::image
