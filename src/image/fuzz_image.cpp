// Fuzz target: arbitrary bytes through the whole engine (sniff, header limits, one decode,
// three variants, watermark, encode). Limits are small, as in libvips' own thumbnail fuzzer, so
// the fuzzer spends its time on parsing rather than on big pixels.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "image/image.h"

namespace {

imgflow::recipe::Recipe fuzz_recipe() {
  using imgflow::recipe::Fit;
  using imgflow::recipe::Format;
  imgflow::recipe::Recipe recipe;
  auto add = [&](const char* name, int w, int h, Fit fit, Format format) {
    imgflow::recipe::Variant v;
    v.name = name;
    v.resize.width = w;
    v.resize.height = h;
    v.resize.fit = fit;
    v.encode.format = format;
    v.encode.effort = 0;
    recipe.variants.push_back(v);
  };
  add("large", 64, 64, Fit::kInside, Format::kJpeg);
  add("thumb", 16, 16, Fit::kCover, Format::kWebp);
  add("anim", 32, 32, Fit::kContain, Format::kGif);
  recipe.watermark.kind = imgflow::recipe::Watermark::Kind::kText;
  recipe.watermark.text = "f";
  recipe.watermark.min_width = 32;
  recipe.limits.max_pixels = 4'000'000;
  recipe.limits.max_width = 4000;
  recipe.limits.max_height = 4000;
  recipe.limits.max_frames = 16;
  recipe.limits.max_input_bytes = 1 << 20;
  recipe.limits.time_limit_ms = 2000;
  return recipe;
}

}  // namespace

// As the imgflow binary does (apps/imgflow/main.cpp): libvips loads none of its modules at
// start, the HEIF one by name on first use.
// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer defines.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  setenv("VIPSHOME", "/nonexistent/imgflow-loads-its-vips-modules-itself", 1);
  return 0;
}

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer defines.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const imgflow::recipe::Recipe recipe = fuzz_recipe();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Any outcome is fine except a crash, a hang or a sanitizer report.
  (void)imgflow::image::process(bytes, recipe);
  return 0;
}
