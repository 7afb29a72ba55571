#include "image/watermark.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>

#include "core/digest.h"
#include "image/geometry.h"
#include "image/vips_util.h"

namespace imgflow::image::detail {
namespace {

using vips::VImage;

// Text is rendered once this large and then only ever scaled down, keeping edges crisp.
constexpr int kTextRenderPoints = 96;

std::string cache_key(const recipe::Watermark& w) {
  std::string key = w.kind == recipe::Watermark::Kind::kImage
                        ? "image:" + core::to_hex(core::sha256(w.image_bytes))
                        : "text:" + w.text + "|" + w.font + "|" + std::to_string(w.font_size) +
                              "|" + std::to_string(w.color.r) + "," + std::to_string(w.color.g) +
                              "," + std::to_string(w.color.b);
  return key + "|" + std::to_string(w.opacity);
}

VImage with_opacity(const VImage& rgba, double opacity) {
  VImage alpha = rgba.extract_band(3).linear(opacity, 0.0).cast(VIPS_FORMAT_UCHAR);
  return rgba.extract_band(0, VImage::option()->set("n", 3)).bandjoin(alpha);
}

VImage to_rgba8(VImage image) {
  if (image.interpretation() != VIPS_INTERPRETATION_sRGB)
    image = image.colourspace(VIPS_INTERPRETATION_sRGB);
  if (image.format() != VIPS_FORMAT_UCHAR) image = image.cast(VIPS_FORMAT_UCHAR);
  if (!image.has_alpha()) image = image.bandjoin_const({255});
  return image;
}

core::Result<VImage> load_image_mark(const recipe::Watermark& w) {
  auto format = sniff(w.image_bytes);
  if (!format) {
    return core::fail(format.error().with_context("watermark image"));
  }
  VImage mark = load_source(w.image_bytes, *format, VImage::option()->set("fail_on", "error"));
  return to_rgba8(first_frame(mark.autorot()));
}

// One colour under an alpha mask, as sRGB 8-bit RGBA.
VImage coloured(const VImage& alpha, const recipe::Rgb& colour) {
  return alpha.new_from_image({double(colour.r), double(colour.g), double(colour.b)})
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .bandjoin(alpha);
}

// Text with a soft halo of the opposite brightness around its glyphs: white text alone vanishes
// on a white image (every pixel under it is already 255), and the mark must show on any
// background.
VImage render_text_mark(const recipe::Watermark& w) {
  constexpr double kHaloOpacity = 0.8;
  const int points = w.font_size > 0 ? w.font_size : kTextRenderPoints;
  VImage mask = VImage::text(w.text.c_str(),
                             VImage::option()
                                 ->set("font", (w.font + " " + std::to_string(points)).c_str())
                                 ->set("dpi", 72));
  const int pad = std::max(2, points / 10);
  mask = mask.embed(pad, pad, mask.width() + 2 * pad, mask.height() + 2 * pad);
  // Blurred and then saturated: solid right at the glyphs' edges, fading within `pad`.
  const VImage halo = (mask.gaussblur(pad / 2.0) * (4 * kHaloOpacity)).cast(VIPS_FORMAT_UCHAR);
  const double luma = 0.299 * w.color.r + 0.587 * w.color.g + 0.114 * w.color.b;
  const recipe::Rgb halo_colour = luma >= 128 ? recipe::Rgb{0, 0, 0} : recipe::Rgb{255, 255, 255};
  return coloured(halo, halo_colour)
      .composite2(coloured(mask, w.color), VIPS_BLEND_MODE_OVER)
      .cast(VIPS_FORMAT_UCHAR);
}

// The mark sized for a canvas: `scale` of the canvas width, never wider than the canvas
// minus its margins.
VImage sized_mark(const VImage& mark, const recipe::Watermark& w, Size canvas) {
  double width = w.scale > 0 ? w.scale * canvas.width : mark.width();
  width = std::min(width, double(canvas.width - 2 * w.margin));
  double height = width * mark.height() / mark.width();
  if (height > canvas.height - 2 * w.margin) {
    height = canvas.height - 2 * w.margin;
    width = height * mark.width() / mark.height();
  }
  const int mw = std::max(1, int(std::lround(width)));
  const int mh = std::max(1, int(std::lround(height)));
  return resize_exact(mark, mw, mh);
}

// A mark that changes no pixel by this many levels out of 255 cannot be seen: the manifest
// must then not say the variant is watermarked.
constexpr double kVisibleLevels = 8;

bool changes_visibly(const VImage& before, const VImage& after) {
  return (after.cast(VIPS_FORMAT_INT) - before.cast(VIPS_FORMAT_INT)).abs().max() >= kVisibleLevels;
}

// Composites `mark` over `image` at (x, y), touching only that region.
Marked composite_region(const VImage& image, const VImage& mark, int x, int y) {
  VImage region = image.extract_area(x, y, mark.width(), mark.height());
  VImage base = region;
  const bool grey = image.bands() <= 2;
  if (grey) base = base.colourspace(VIPS_INTERPRETATION_sRGB);
  VImage blended = base.composite2(mark, VIPS_BLEND_MODE_OVER).cast(VIPS_FORMAT_UCHAR);
  if (grey) blended = blended.colourspace(VIPS_INTERPRETATION_B_W);
  if (!image.has_alpha())
    blended = blended.extract_band(0, VImage::option()->set("n", blended.bands() - 1));
  return {image.insert(blended, x, y), changes_visibly(region, blended)};
}

Marked tile_over(const VImage& image, const VImage& mark, int margin) {
  // Tiles are spaced by the margin so marks never touch.
  VImage cell = mark.embed(0, 0, mark.width() + margin, mark.height() + margin);
  const int across = image.width() / cell.width() + 1;
  const int down = image.height() / cell.height() + 1;
  VImage tiled = cell.replicate(across, down).extract_area(0, 0, image.width(), image.height());
  VImage base = image.bands() <= 2 ? image.colourspace(VIPS_INTERPRETATION_sRGB) : image;
  VImage out = base.composite2(tiled, VIPS_BLEND_MODE_OVER).cast(VIPS_FORMAT_UCHAR);
  if (image.bands() <= 2) out = out.colourspace(VIPS_INTERPRETATION_B_W);
  if (!image.has_alpha()) out = out.extract_band(0, VImage::option()->set("n", out.bands() - 1));
  return {out, changes_visibly(image, out)};
}

}  // namespace

core::Result<VImage> prepared_mark(const recipe::Watermark& watermark) {
  static std::mutex mu;
  static std::map<std::string, VImage> cache;
  const std::string key = cache_key(watermark);
  {
    const std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  VImage mark;
  try {
    if (watermark.kind == recipe::Watermark::Kind::kImage) {
      auto loaded = load_image_mark(watermark);
      if (!loaded) return loaded;
      mark = *loaded;
    } else {
      mark = render_text_mark(watermark);
    }
    mark = with_opacity(mark, watermark.opacity).copy_memory();
  } catch (const vips::VError& error) {
    return core::fail(to_error(error, "preparing the watermark", core::ErrorCode::kCorrupt));
  }
  const std::lock_guard lock(mu);
  cache.emplace(key, mark);
  return mark;
}

Marked apply_watermark(const VImage& image, const VImage& mark, const recipe::Watermark& w) {
  bool visible = false;
  bool first = true;  // frames of an animation look alike: the first one answers for all
  VImage out = for_each_frame(image, [&](const VImage& frame) {
    const Size canvas{frame.width(), frame.height()};
    if (canvas.width <= 2 * w.margin + 1 || canvas.height <= 2 * w.margin + 1) return frame;
    const VImage sized = sized_mark(mark, w, canvas);
    const auto [x, y] = mark_origin(w.position, canvas, {sized.width(), sized.height()}, w.margin);
    const Marked marked =
        w.tile ? tile_over(frame, sized, w.margin) : composite_region(frame, sized, x, y);
    visible = visible || (first && marked.visible);
    first = false;
    return marked.image;
  });
  return {out, visible};
}

}  // namespace imgflow::image::detail
