#pragma once

// Internal helpers shared by the image engine's files. Not part of the module's interface.

#include <string_view>
#include <vips/vips8>

#include "core/result.h"
#include "image/image.h"

namespace imgflow::image::detail {

// Loads libvips' HEIF/AVIF module the first time a HEIF source or an AVIF output needs it. Its
// codecs (libheif with aom, dav1d, de265, x265) add about 5 ms to every start, and most sources
// are JPEG or PNG: a cold start should not pay for them. Throws vips::VError when it cannot
// load. Thread-safe.
void require_heif();

// A VipsBlob that borrows `bytes` (no copy): the caller keeps them alive while any image made
// from it is in use.
vips::VImage load_source(std::string_view bytes, SourceFormat format, vips::VOption* options);

// Copies an encoder's output blob into a string and releases the blob.
std::string take_blob(VipsBlob* blob);

// All metadata field names of an image.
std::vector<std::string> field_names(const vips::VImage& image);

// Frames stacked vertically, as libvips represents animations.
int frame_count(const vips::VImage& image);
int frame_height(const vips::VImage& image);

// Applies `fn` to each frame of an animated image and stacks the results again (so crops,
// embeds and watermarks act per frame, not on the whole strip). Single-frame images pass
// straight through.
template <typename Fn>
vips::VImage for_each_frame(const vips::VImage& image, Fn&& fn) {
  const int frames = frame_count(image);
  if (frames <= 1) return fn(image);
  const int page = frame_height(image);
  std::vector<vips::VImage> out;
  out.reserve(frames);
  for (int i = 0; i < frames; ++i)
    out.push_back(fn(image.extract_area(0, i * page, image.width(), page)));
  vips::VImage joined = vips::VImage::arrayjoin(out, vips::VImage::option()->set("across", 1));
  joined.set("page-height", out.front().height());
  return joined;
}

// The first frame only, for outputs that cannot animate.
vips::VImage first_frame(const vips::VImage& image);

// Resizes to exactly width x height (lanczos3). Alpha is premultiplied first, so transparent
// pixels do not bleed dark fringes. Safe on sequentially decoded images.
vips::VImage resize_exact(const vips::VImage& image, int width, int height);

// Reduces an 8-bit image of 1 to 4 bands to width x height (neither larger than now) with our
// Lanczos3 passes (see lanczos.h), keeping its metadata. The result is in memory; `image` is read
// once, top to bottom. Callers check the sizes against the taps as resize_exact does.
vips::VImage reduce_natively(const vips::VImage& image, int width, int height);

// Raises kTimeout inside libvips once `deadline_ms` from now passes, by killing the pipeline
// evaluating `image`. Attach before the call that computes pixels.
void attach_deadline(const vips::VImage& image, std::int64_t deadline_unix_ms);

// Records the deadline on `image` for reduce_natively, which pulls pixels through a region and so
// never sees attach_deadline's signal: past it, it raises kTimeout too. Images made from `image`
// afterwards inherit it.
void record_deadline(const vips::VImage& image, std::int64_t deadline_unix_ms);

// Turns a libvips exception into an Error with `code` (the caller knows whether it was decoding
// untrusted bytes, kCorrupt, or encoding its own pixels, kInternal); a pipeline stopped by its
// deadline becomes kTimeout. Call it inside the OperationErrors that collected the errors
// (vips_errors.h): its text is the message, and it is cleared.
core::Error to_error(const vips::VError& error, std::string_view during, core::ErrorCode code);

}  // namespace imgflow::image::detail
