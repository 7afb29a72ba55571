// The pipeline: one decode per source, every variant derived from it.

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/digest.h"
#include "image/encode.h"
#include "image/geometry.h"
#include "image/image.h"
#include "image/vips_errors.h"
#include "image/vips_util.h"
#include "image/watermark.h"

namespace imgflow::image {
namespace {

using recipe::Fit;
using recipe::Gravity;
using vips::VImage;

// Only the loaders of the accepted formats may ever run, whatever the bytes claim.
constexpr const char* kAllowedLoaders[] = {"VipsForeignLoadJpeg", "VipsForeignLoadPng",
                                           "VipsForeignLoadWebp", "VipsForeignLoadNsgif",
                                           "VipsForeignLoadTiff", "VipsForeignLoadHeif"};

constexpr int kPlaceholderWidth = 16;
// The dominant colour is found in a thumbnail this wide: enough pixels for a histogram, few
// enough to count in microseconds.
constexpr int kDominantColorWidth = 64;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Deadline {
  std::int64_t at_ms;
  bool passed() const { return now_ms() > at_ms; }
};

// Whether a variant keeps an animated source's frames (format auto may pick an animated one).
bool animates(const recipe::Variant& v) {
  const bool can_animate =
      v.encode.format == recipe::Format::kAuto || detail::supports_animation(v.encode.format);
  return can_animate && v.encode.keep_animation;
}

bool wants_animation(const recipe::Recipe& recipe) {
  return std::any_of(recipe.variants.begin(), recipe.variants.end(), animates);
}

std::vector<VariantPlan> plan_all(const recipe::Recipe& recipe, Size display) {
  std::vector<VariantPlan> plans;
  plans.reserve(recipe.variants.size());
  for (const auto& v : recipe.variants) plans.push_back(plan_variant(v.resize, display));
  return plans;
}

// The one decode's size: the display size reduced to what the largest variant needs.
Size master_size(Size display, const std::vector<VariantPlan>& plans) {
  const double scale = needed_scale(plans, display);
  return {std::max(1, int(std::lround(display.width * scale))),
          std::max(1, int(std::lround(display.height * scale)))};
}

std::uint64_t area(Size size) { return std::uint64_t(size.width) * std::uint64_t(size.height); }

// Bytes one image holds at the peak of its processing, from its header alone: what the decoder
// keeps at once, the master (every frame kept), and each variant resized from it. Pixels are
// counted at 4 bytes (8-bit with alpha), so this bounds the usual 8-bit sources from above.
std::uint64_t estimated_memory(const SourceInfo& info, Size master,
                               const std::vector<VariantPlan>& plans, const recipe::Recipe& recipe,
                               int frames) {
  constexpr std::uint64_t kPixel = 4;
  const std::uint64_t stored = area({info.width, info.height});
  std::uint64_t decoder = 0;  // streaming decoders (baseline JPEG, PNG, TIFF) hold a few rows
  switch (info.format) {
    case SourceFormat::kJpeg:  // progressive: 2-byte coefficients of up to 3 full-size planes
      decoder = info.progressive ? stored * 6 : 0;
      break;
    case SourceFormat::kPng:  // interlaced: the whole image, up to 16-bit RGBA
      decoder = info.progressive ? stored * 8 : 0;
      break;
    case SourceFormat::kWebp:  // decodes whole frames, at the scale asked for
      decoder = std::min(stored, area(master)) * kPixel;
      break;
    case SourceFormat::kGif:   // the canvas, and the previous one for frame disposal
    case SourceFormat::kHeif:  // libheif's planes, then their RGB conversion
    case SourceFormat::kAvif:
      decoder = stored * kPixel * 2;
      break;
    case SourceFormat::kTiff:
      break;
  }
  std::uint64_t variants = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const int kept = animates(recipe.variants[i]) ? frames : 1;
    variants += area(plans[i].resized) * kPixel * std::uint64_t(kept);
  }
  return decoder + area(master) * kPixel * std::uint64_t(frames) + variants;
}

std::string megabytes(std::uint64_t bytes) {
  return std::to_string((bytes + (1U << 20U) - 1) >> 20U) + " MiB";
}

// JPEG decoders can drop to 1/2, 1/4 or 1/8 scale almost for free: take the smallest that
// still covers the size every variant needs.
int jpeg_shrink_for(Size stored, Size needed) {
  for (int shrink : {8, 4, 2}) {
    const int w = (stored.width + shrink - 1) / shrink;
    const int h = (stored.height + shrink - 1) / shrink;
    if (w >= needed.width && h >= needed.height) return shrink;
  }
  return 1;
}

// Every 17th level of the three channels together (4096 colours), then every level of red,
// green, blue and grey alone: 80x64 pixels.
VImage probe_colours() {
  std::vector<std::uint8_t> rgb;
  rgb.reserve(std::size_t{80} * 64 * 3);
  for (int r = 0; r < 256; r += 17)
    for (int g = 0; g < 256; g += 17)
      for (int b = 0; b < 256; b += 17)
        rgb.insert(rgb.end(), {std::uint8_t(r), std::uint8_t(g), std::uint8_t(b)});
  for (int v = 0; v < 256; ++v) {
    const auto u = std::uint8_t(v);
    rgb.insert(rgb.end(), {u, 0, 0, 0, u, 0, 0, 0, u, u, u, u});
  }
  VImage probe = VImage::new_from_memory(rgb.data(), rgb.size(), 80, 64, 3, VIPS_FORMAT_UCHAR);
  return probe.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .copy_memory();
}

VImage to_srgb_with_embedded(const VImage& image) {
  return image.icc_transform("srgb", VImage::option()
                                         ->set("embedded", true)
                                         ->set("depth", 8)
                                         ->set("intent", VIPS_INTENT_PERCEPTUAL));
}

// Whether the embedded profile of an 8-bit RGB image is sRGB under another name: converting
// with it moves no probe colour by more than one level (the common sRGB profiles move none, or
// a few saturated ones by one: far below what JPEG quantisation does). Converting a 1600x1000
// master costs lcms 15-20 ms; the 80x64 probe a few, and its verdict is kept per distinct
// profile, so photos from one camera or editor pay for one probe between them.
bool embeds_srgb(const VImage& image) {
  if (image.format() != VIPS_FORMAT_UCHAR || image.bands() != 3 ||
      image.interpretation() != VIPS_INTERPRETATION_sRGB) {
    return false;
  }
  std::size_t size = 0;
  const void* data = image.get_blob(VIPS_META_ICC_NAME, &size);
  const std::string key =
      core::to_hex(core::sha256(std::string_view(static_cast<const char*>(data), size)));
  static std::mutex mu;
  static std::map<std::string, bool> verdicts;
  {
    const std::lock_guard lock(mu);
    if (auto it = verdicts.find(key); it != verdicts.end()) return it->second;
  }
  bool same = false;
  try {
    VImage probe = probe_colours();
    vips_image_set_blob_copy(probe.get_image(), VIPS_META_ICC_NAME, data, size);
    const VImage converted = to_srgb_with_embedded(probe);
    same = converted.bands() == 3 &&
           (converted.cast(VIPS_FORMAT_INT) - probe.cast(VIPS_FORMAT_INT)).abs().max() <= 1;
  } catch (const vips::VError&) {
    vips_error_clear();  // the real conversion reports (and handles) a broken profile
  }
  const std::lock_guard lock(mu);
  // Bounded: uploads with ever-new profiles must not grow the process. Real workloads see a
  // handful of distinct profiles, so forgetting them all now and then costs a few probes.
  constexpr std::size_t kMaxRemembered = 256;
  if (verdicts.size() >= kMaxRemembered) verdicts.clear();
  verdicts.emplace(key, same);
  return same;
}

// Colour: everything leaves here as 8-bit sRGB (or 8-bit grey, which stays grey), with an
// embedded profile honoured.
VImage to_srgb8(VImage image) {
  const bool grey = image.interpretation() == VIPS_INTERPRETATION_B_W ||
                    image.interpretation() == VIPS_INTERPRETATION_GREY16;
  if (!grey && image.get_typeof(VIPS_META_ICC_NAME) != 0 && !embeds_srgb(image)) {
    try {
      image = to_srgb_with_embedded(image);
    } catch (const vips::VError&) {
      // A broken embedded profile is common in the wild: fall back to the plain conversion.
      vips_error_clear();
      image.remove(VIPS_META_ICC_NAME);
    }
  }
  const VipsInterpretation target = grey ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
  if (image.interpretation() != target) image = image.colourspace(target);
  if (image.format() != VIPS_FORMAT_UCHAR) image = image.cast(VIPS_FORMAT_UCHAR);
  return image;
}

// Upright images skip autorot, which would only copy them.
bool needs_rotation(const VImage& image) {
  return image.get_typeof(VIPS_META_ORIENTATION) != 0 && image.get_int(VIPS_META_ORIENTATION) != 1;
}

// Every rotation and every vertical flip reads its source out of order (the bottom row first, or
// a column at a time), which a sequentially decoding loader refuses ("out of order read"). So the
// image is rotated only once it is in memory: after our own reduction it already is (copy_memory
// keeps it as it is); when no reduction was needed it is still the decoder, and is copied first.
VImage upright(const VImage& image, Deadline deadline) {
  if (!needs_rotation(image)) return image;
  detail::attach_deadline(image, deadline.at_ms);  // the copy may run the whole decode
  return image.copy_memory().autorot();
}

// The single decode: shrink-on-load, then resize to the largest size any variant needs,
// orient, convert to sRGB, and hold the result in memory for every variant to share.
VImage decode_master(std::string_view bytes, const SourceInfo& info, Size master, bool animated,
                     Deadline deadline) {
  const double scale = double(master.width) / info.display_width();
  const bool swapped = info.orientation >= 5;
  const Size stored_target = swapped ? Size{master.height, master.width} : master;

  vips::VOption* options =
      VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL)->set("fail_on", VIPS_FAIL_ON_ERROR);
  if (animated) options->set("n", -1);
  if (info.format == SourceFormat::kJpeg) {
    options->set("shrink", jpeg_shrink_for({info.width, info.height}, stored_target));
  } else if (info.format == SourceFormat::kWebp && scale < 1.0) {
    options->set("scale", scale);
  }
  VImage image = detail::load_source(bytes, info.format, options);
  detail::record_deadline(image, deadline.at_ms);  // our resize pulls the decode itself

  if (image.interpretation() == VIPS_INTERPRETATION_CMYK) {
    // CMYK must become RGB before any resampling; a generic CMYK profile stands in for a
    // missing one.
    image = image.icc_transform("srgb", VImage::option()
                                            ->set("input_profile", "cmyk")
                                            ->set("embedded", true)
                                            ->set("depth", 8)
                                            ->set("intent", VIPS_INTENT_PERCEPTUAL));
  }
  const int frames = detail::frame_count(image);
  image = detail::resize_exact(image, stored_target.width, stored_target.height * frames);
  if (frames > 1) {
    image.set("page-height", stored_target.height);
  } else {
    image = upright(image, deadline);  // after resize: rotating fewer pixels
  }
  image = to_srgb8(image);
  detail::attach_deadline(image, deadline.at_ms);
  return image.copy_memory();
}

VImage crop_to(const VImage& image, Size canvas, Gravity gravity) {
  if (image.width() == canvas.width && image.height() == canvas.height) return image;
  if (gravity == Gravity::kAttention || gravity == Gravity::kEntropy) {
    return image.smartcrop(canvas.width, canvas.height,
                           VImage::option()->set("interesting", gravity == Gravity::kAttention
                                                                    ? VIPS_INTERESTING_ATTENTION
                                                                    : VIPS_INTERESTING_ENTROPY));
  }
  const auto [x, y] = crop_origin(gravity, {image.width(), image.height()}, canvas);
  return image.extract_area(x, y, canvas.width, canvas.height);
}

VImage pad_to(const VImage& image, Size canvas, const recipe::Rgb& background) {
  if (image.width() == canvas.width && image.height() == canvas.height) return image;
  std::vector<double> fill = {double(background.r), double(background.g), double(background.b)};
  if (image.bands() <= 2)
    fill = {0.299 * background.r + 0.587 * background.g + 0.114 * background.b};
  if (image.has_alpha()) fill.push_back(0);  // transparent padding where the output can show it
  const auto [x, y] = crop_origin(Gravity::kCentre, canvas, {image.width(), image.height()});
  return image.embed(
      x, y, canvas.width, canvas.height,
      VImage::option()->set("extend", VIPS_EXTEND_BACKGROUND)->set("background", fill));
}

// Full-frame images made from the master so far (the master first), in memory. A variant
// resizes the smallest one that still has kChainFactor times its pixels each way: a 200-px
// thumbnail made from the 800-px variant costs a fraction of one made from the master and looks
// the same, since a Lanczos3 reduction by 2 or more keeps what the smaller size can show.
class FullFrames {
 public:
  explicit FullFrames(VImage master) : made_{std::move(master)} {}

  const VImage& master() const { return made_.front(); }

  const VImage& source_for(Size wanted) const {
    const VImage* best = &made_.front();
    for (const VImage& image : made_) {
      const bool covers = image.width() >= kChainFactor * wanted.width &&
                          detail::frame_height(image) >= kChainFactor * wanted.height;
      if (covers && image.width() < best->width()) best = &image;
    }
    return *best;
  }

  // Keeps `resized` as a source for later variants when it shows the whole master (a stretched
  // fill does not, nor a variant that kept only the first frame of an animation).
  void add(const VImage& resized) {
    if (detail::frame_count(resized) != detail::frame_count(master())) return;
    const double across = double(resized.width()) / master().width();
    const double down = double(detail::frame_height(resized)) / detail::frame_height(master());
    const bool same_aspect =
        std::abs(across - down) * std::max(master().width(), master().height()) < 1.0;
    if (same_aspect && resized.width() < master().width()) made_.push_back(resized);
  }

 private:
  static constexpr int kChainFactor = 2;
  std::vector<VImage> made_;
};

// Resizes the master, or a smaller full-frame image made from it, to the plan's size, in memory
// (later variants may resize it again). A variant that will not animate resizes the first frame
// only: an animation's other frames would cost time and memory for nothing.
VImage resize_for(const FullFrames& frames_made, const VariantPlan& plan, bool animate) {
  VImage source = frames_made.source_for(plan.resized);
  if (!animate) source = detail::first_frame(source);
  const int frames = detail::frame_count(source);
  VImage resized = detail::resize_exact(source, plan.resized.width, plan.resized.height * frames);
  if (frames > 1) resized.set("page-height", plan.resized.height);
  return resized.copy_memory();
}

// Geometry of one variant after the resize: crop (cover) or pad (contain).
VImage fit(const VImage& resized, const recipe::Variant& variant, const VariantPlan& plan,
           const recipe::Output& output) {
  return detail::for_each_frame(resized, [&](const VImage& frame) {
    if (variant.resize.fit == Fit::kCover)
      return crop_to(frame, plan.canvas, variant.resize.gravity);
    if (variant.resize.fit == Fit::kContain) return pad_to(frame, plan.canvas, output.background);
    return frame;
  });
}

VImage flatten_onto(const VImage& image, const recipe::Rgb& background) {
  std::vector<double> colour = {double(background.r), double(background.g), double(background.b)};
  if (image.bands() <= 2)
    colour = {0.299 * background.r + 0.587 * background.g + 0.114 * background.b};
  return image.flatten(VImage::option()->set("background", colour)).cast(VIPS_FORMAT_UCHAR);
}

Rendition render(const VImage& resized, const recipe::Variant& variant, const VariantPlan& plan,
                 const recipe::Recipe& recipe, const VImage* mark) {
  const bool animated = detail::frame_count(resized) > 1;
  const recipe::Format format =
      detail::resolve_format(variant.encode.format, resized.has_alpha(), animated,
                             variant.encode.keep_animation, recipe.output);
  VImage image = fit(resized, variant, plan, recipe.output);
  if (!detail::supports_animation(format) || !variant.encode.keep_animation) {
    image = detail::first_frame(image);
  }
  if (image.has_alpha() && !detail::supports_alpha(format)) {
    image = flatten_onto(image, recipe.output.background);  // transparent → background, not black
  }
  bool watermarked = false;  // only if the mark can be seen: the manifest says so
  if (mark != nullptr && variant.watermark && image.width() >= recipe.watermark.min_width) {
    // After resize: the mark keeps its size relative to the output.
    detail::Marked marked = detail::apply_watermark(image, *mark, recipe.watermark);
    image = std::move(marked.image);
    watermarked = marked.visible;
  }
  Rendition out;
  out.variant = variant.name;
  out.format = format;
  out.width = image.width();
  out.height = detail::frame_height(image);
  out.frames = detail::frame_count(image);
  out.watermarked = watermarked;
  out.bytes = detail::encode(image, format, variant.encode, recipe.metadata);
  return out;
}

std::string placeholder_for(const FullFrames& frames_made) {
  const VImage& source = frames_made.source_for({kPlaceholderWidth, 1});
  VImage tiny = detail::apply_metadata_policy(
      detail::first_frame(source).thumbnail_image(kPlaceholderWidth).gaussblur(0.6), {});
  const std::string bytes =
      detail::take_blob(tiny.webpsave_buffer(VImage::option()->set("Q", 40)->set("strip", true)));
  return "data:image/webp;base64," + core::base64_encode(bytes);
}

// "#rrggbb": the mean of the fullest bin of a 16x16x16 histogram of the thumbnail's opaque
// pixels (as sharp's stats().dominant), so a photo of a red car on grey asphalt is grey, where
// the plain mean would be a muddy brown. Fully transparent images are "#000000".
std::string dominant_color_for(const FullFrames& frames_made) {
  const VImage& source = frames_made.source_for({kDominantColorWidth, 1});
  VImage small = detail::first_frame(source)
                     .thumbnail_image(kDominantColorWidth)
                     .colourspace(VIPS_INTERPRETATION_sRGB)
                     .cast(VIPS_FORMAT_UCHAR);
  const int bands = small.bands();  // 3, or 4 with alpha
  std::size_t size = 0;
  auto* pixels = static_cast<unsigned char*>(small.write_to_memory(&size));
  struct Bin {
    std::uint64_t count = 0, r = 0, g = 0, b = 0;
  };
  constexpr std::size_t kBins = 16 * 16 * 16;
  std::vector<Bin> bins(kBins);
  for (std::size_t i = 0; i + static_cast<std::size_t>(bands) <= size;
       i += static_cast<std::size_t>(bands)) {
    if (bands >= 4 && pixels[i + 3] < 128) continue;  // mostly transparent: not seen
    const unsigned r = pixels[i], g = pixels[i + 1], b = pixels[i + 2];
    Bin& bin = bins[((r >> 4U) << 8U) | ((g >> 4U) << 4U) | (b >> 4U)];
    ++bin.count;
    bin.r += r;
    bin.g += g;
    bin.b += b;
  }
  g_free(pixels);
  const Bin& top = *std::max_element(bins.begin(), bins.end(),
                                     [](const Bin& a, const Bin& b) { return a.count < b.count; });
  if (top.count == 0) return "#000000";
  std::array<char, 8> hex{};
  std::snprintf(hex.data(), hex.size(), "#%02x%02x%02x", static_cast<unsigned>(top.r / top.count),
                static_cast<unsigned>(top.g / top.count), static_cast<unsigned>(top.b / top.count));
  return hex.data();
}

}  // namespace

core::Status init() {
  static std::once_flag once;
  static core::Status status;
  std::call_once(once, [] {
    if (VIPS_INIT("imgflow") != 0) {
      status = core::fail(core::ErrorCode::kInternal,
                          std::string("libvips failed to start: ") + vips_error_buffer());
      return;
    }
    // libvips reports decoder trouble as GLib warnings and again as the error we return;
    // the warnings would only repeat it, unformatted, on stderr.
    if (std::getenv("IMGFLOW_VIPS_WARNINGS") == nullptr) {
      g_log_set_handler(
          "VIPS", G_LOG_LEVEL_WARNING, [](const gchar*, GLogLevelFlags, const gchar*, gpointer) {},
          nullptr);
    }
    vips_cache_set_max(0);  // every image is new: caching operations only costs memory
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (const char* loader : kAllowedLoaders) vips_operation_block_set(loader, FALSE);
  });
  return status;
}

std::string libvips_version() { return vips_version_string(); }

void set_threads_per_image(int threads) { vips_concurrency_set(std::max(1, threads)); }

core::Result<Processed> process(std::string_view bytes, const recipe::Recipe& recipe) {
  return process(bytes, recipe, std::vector<bool>(recipe.variants.size(), true));
}

core::Result<Processed> process(std::string_view bytes, const recipe::Recipe& recipe,
                                const std::vector<bool>& encode) {
  if (encode.size() != recipe.variants.size()) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "asked to encode " + std::to_string(encode.size()) + " of " +
                          std::to_string(recipe.variants.size()) + " variants");
  }
  detail::OperationErrors errors;  // every message below is about these bytes only
  const Deadline deadline{now_ms() + recipe.limits.time_limit_ms};
  auto info = inspect(bytes, recipe.limits);  // header only: limits hold before any pixel
  if (!info) return core::fail(info.error());
  if (recipe.variants.empty()) {
    return core::fail(core::ErrorCode::kInvalidArgument, "the recipe has no variants");
  }

  std::optional<VImage> mark;
  if (recipe.watermark.kind != recipe::Watermark::Kind::kNone) {
    auto prepared = detail::prepared_mark(recipe.watermark);
    if (!prepared) return core::fail(prepared.error());
    mark = *prepared;
  }

  const Size display{info->display_width(), info->display_height()};
  const std::vector<VariantPlan> plans = plan_all(recipe, display);
  const bool animated = info->frames > 1 && wants_animation(recipe);
  const Size master_box = master_size(display, plans);
  // A few kilobytes can declare a gigabyte of frames: refuse before decoding any.
  const std::uint64_t memory =
      estimated_memory(*info, master_box, plans, recipe, animated ? info->frames : 1);
  if (memory > recipe.limits.max_memory) {
    return core::fail(core::ErrorCode::kTooLarge,
                      "processing would take about " + megabytes(memory) + " (" +
                          std::to_string(display.width) + "x" + std::to_string(display.height) +
                          (animated ? ", " + std::to_string(info->frames) + " frames" : "") +
                          "); the limit is " + megabytes(recipe.limits.max_memory) +
                          " (limits.max_memory)");
  }

  Processed out;
  out.source = *info;
  out.memory_estimate = memory;
  VImage master;
  try {
    master = decode_master(bytes, *info, master_box, animated, deadline);  // the one decode
    out.decoded_width = master.width();
    out.decoded_height = detail::frame_height(master);
  } catch (const vips::VError& error) {
    return core::fail(detail::to_error(error, "decoding", core::ErrorCode::kCorrupt));
  }
  try {
    FullFrames frames_made(std::move(master));
    for (std::size_t i = 0; i < recipe.variants.size(); ++i) {
      if (deadline.passed()) {
        return core::fail(core::ErrorCode::kTimeout,
                          "time limit of " + std::to_string(recipe.limits.time_limit_ms) +
                              " ms exceeded after " + std::to_string(i) + " variants");
      }
      const VImage resized =  // from the smallest that serves
          resize_for(frames_made, plans[i], animated && animates(recipe.variants[i]));
      if (resized.get_image() != frames_made.master().get_image()) {
        detail::attach_deadline(resized,
                                deadline.at_ms);  // a new image: encoding it is watched too
      }
      frames_made.add(resized);
      if (!encode[i]) continue;
      out.renditions.push_back(
          render(resized, recipe.variants[i], plans[i], recipe, mark ? &*mark : nullptr));
    }
    out.placeholder = placeholder_for(frames_made);
    out.dominant_color = dominant_color_for(frames_made);
  } catch (const vips::VError& error) {
    return core::fail(detail::to_error(error, "encoding", core::ErrorCode::kInternal));
  }
  return out;
}

}  // namespace imgflow::image
