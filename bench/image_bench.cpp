// CPU cost of the engine on J1-like work, without process start-up or file I/O:
//   build/release/bench/image_bench [--benchmark_filter=...]
// The source is generated (a smooth gradient with noise, so encoders have real work), at the
// 2560x1600 size of the J1 photos and at 12 MP.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vips/vips8>

#include "image/image.h"

namespace {

using imgflow::recipe::Fit;
using imgflow::recipe::Format;

std::string source_jpeg(int width, int height) {
  vips::VImage xy = vips::VImage::xyz(width, height);
  vips::VImage noise =
      vips::VImage::gaussnoise(width, height, vips::VImage::option()->set("sigma", 12));
  vips::VImage r = xy[0] * (255.0 / width) + noise;
  vips::VImage g = xy[1] * (255.0 / height) + noise;
  vips::VImage b = (xy[0] + xy[1]) * (127.0 / width);
  vips::VImage img =
      vips::VImage::bandjoin({r, g, b})
          .cast(VIPS_FORMAT_UCHAR)
          .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  void* buf = nullptr;
  std::size_t size = 0;
  img.write_to_buffer(".jpg", &buf, &size, vips::VImage::option()->set("Q", 90));
  std::string out(static_cast<char*>(buf), size);
  g_free(buf);
  return out;
}

imgflow::recipe::Recipe j1_recipe() {
  imgflow::recipe::Recipe r;
  auto add = [&](const char* name, int size, Fit fit, bool mark) {
    imgflow::recipe::Variant v;
    v.name = name;
    v.resize = {size, size, fit, imgflow::recipe::Gravity::kCentre, false};
    v.encode.format = Format::kJpeg;
    v.encode.progressive = false;
    v.watermark = mark;
    r.variants.push_back(v);
  };
  add("large", 1600, Fit::kInside, true);
  add("medium", 800, Fit::kInside, true);
  add("thumb", 200, Fit::kCover, false);
  r.watermark.kind = imgflow::recipe::Watermark::Kind::kText;
  r.watermark.text = "imgflow";
  return r;
}

void run_j1(benchmark::State& state, int width, int height) {
  // As the imgflow binary starts libvips (apps/imgflow/main.cpp): none of its modules at start.
  static const bool modules_out =
      setenv("VIPSHOME", "/nonexistent/imgflow-loads-its-vips-modules-itself", 1) == 0;
  (void)modules_out;
  (void)imgflow::image::init();
  imgflow::image::set_threads_per_image(1);
  const std::string jpeg = source_jpeg(width, height);
  const imgflow::recipe::Recipe recipe = j1_recipe();
  for (auto _ : state) {
    auto out = imgflow::image::process(jpeg, recipe);
    if (!out) state.SkipWithError(out.error().message.c_str());
    benchmark::DoNotOptimize(out);
  }
}

void BM_J1_2560x1600(benchmark::State& state) { run_j1(state, 2560, 1600); }
void BM_J1_4000x3000(benchmark::State& state) { run_j1(state, 4000, 3000); }
BENCHMARK(BM_J1_2560x1600)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_J1_4000x3000)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
