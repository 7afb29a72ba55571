#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "recipe/recipe.h"

// The image engine: the only module that includes libvips. Untrusted bytes in, encoded
// variants out. Every libvips exception is caught inside this module and returned as an Error.
namespace imgflow::image {

// Starts libvips once per process: operation cache off (each image is new), untrusted loaders
// (SVG, PDF, ImageMagick, ...) blocked. Idempotent and thread-safe. Returns kInternal if libvips
// cannot start. libvips loads every module under $VIPSHOME at start; the application decides
// whether it should (imgflow's main points it away: the HEIF module, the one imgflow uses, is
// loaded by name on first use).
core::Status init();

// "8.14.1" — the libvips runtime version.
std::string libvips_version();

// Threads libvips may use inside one image. Workers that process images in parallel set this
// to cores / workers, so the machine is shared across images rather than within one.
void set_threads_per_image(int threads);

// Input formats accepted. Anything else is kUnsupported.
enum class SourceFormat { kJpeg, kPng, kWebp, kGif, kTiff, kHeif, kAvif };
std::string_view to_string(SourceFormat format);

// Decides the format from magic bytes only (never the name or Content-Type). Needs the first
// 32 bytes at most. kUnsupported (naming what it looks like where known: SVG, PDF, PSD, text...)
// or kCorrupt (empty / too short).
core::Result<SourceFormat> sniff(std::string_view head);

// What the header says, read without decoding any pixel.
struct SourceInfo {
  SourceFormat format = SourceFormat::kJpeg;
  int width = 0;        // as stored, before EXIF orientation
  int height = 0;       // of one frame
  int frames = 1;       // pages / animation frames
  int orientation = 1;  // EXIF orientation 1..8
  bool has_alpha = false;
  bool progressive = false;  // a progressive JPEG or interlaced PNG: decoded whole, not streamed
  std::uint64_t bytes = 0;

  // Dimensions after auto-orientation (orientations 5..8 swap the axes).
  int display_width() const { return orientation >= 5 ? height : width; }
  int display_height() const { return orientation >= 5 ? width : height; }
};

// Sniffs and reads the header, then checks every limit that the header can answer (bytes,
// width, height, pixels, frames). kTooLarge names the limit and the value; kCorrupt if the
// header does not parse; kUnsupported for formats not accepted.
core::Result<SourceInfo> inspect(std::string_view bytes, const recipe::Limits& limits);

// One encoded output.
struct Rendition {
  std::string variant;
  recipe::Format format = recipe::Format::kJpeg;  // concrete, never kAuto
  int width = 0;
  int height = 0;  // of one frame
  int frames = 1;
  bool watermarked = false;
  std::string bytes;
};

struct Processed {
  SourceInfo source;
  std::vector<Rendition> renditions;  // in recipe order
  std::string placeholder;            // data: URI of a ~16 px blurred preview (WebP)
  std::string dominant_color;         // "#rrggbb", the most common colour (a background to show)
  int decoded_width = 0;              // the one decode's size, after shrink-on-load and the
  int decoded_height = 0;             // resize to the largest variant (display orientation)
  std::uint64_t memory_estimate = 0;  // bytes, from the header, checked against max_memory
};

// Checks what only the engine can check of a recipe, once, when it loads: a watermark image
// decodes; a text watermark's font family is installed (fontconfig would otherwise quietly
// draw another) and its text renders. kInvalidArgument names the recipe's file:line:col.
// Returns warnings, with their positions: characters of the text that no installed font can
// draw (they render as boxes).
core::Result<std::vector<std::string>> check_recipe(const recipe::Recipe& recipe);

// Decodes `bytes` once, at the shrink-on-load factor the recipe's largest variant allows, and
// derives every variant from that one image. Thread-safe; call from many workers at once.
// Errors: everything inspect() returns; kTooLarge if the memory it would take, estimated from the
// header (decoder, master with every frame kept, variants), passes limits.max_memory; kCorrupt
// if pixels fail to decode (truncated file); kTimeout past limits.time_limit_ms; kInternal for
// encoder failures.
core::Result<Processed> process(std::string_view bytes, const recipe::Recipe& recipe);

// As process(), but encodes only the variants with `encode[i]` true (one flag per recipe
// variant; renditions holds those, in recipe order). The others are still resized, because later
// variants are derived from earlier ones: each rendition is byte for byte what process() makes.
// kInvalidArgument if `encode` does not have one flag per variant.
core::Result<Processed> process(std::string_view bytes, const recipe::Recipe& recipe,
                                const std::vector<bool>& encode);

}  // namespace imgflow::image
