#include "image/test_images.h"

#include <glib.h>

#include <string_view>

#include "image/vips_util.h"

namespace imgflow::image::testing {

using vips::VImage;

namespace {
std::string take(void* buffer, std::size_t size) {
  std::string out(static_cast<const char*>(buffer), size);
  g_free(buffer);
  return out;
}
}  // namespace

VImage solid(int width, int height, std::vector<double> rgb) {
  return VImage::black(width, height)
      .new_from_image(rgb)
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

VImage test_card(int width, int height) {
  VImage xy = VImage::xyz(width, height);
  VImage x = xy[0] * (255.0 / width);
  VImage y = xy[1] * (255.0 / height);
  VImage r = x;
  VImage g = y;
  VImage b = (x + y) * 0.5;
  return VImage::bandjoin({r, g, b})
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

std::string save(const VImage& image, const char* suffix, vips::VOption* options) {
  void* buffer = nullptr;
  std::size_t size = 0;
  const std::string_view ext(suffix);
  if (ext == ".avif" || ext == ".heic" || ext == ".heif") detail::require_heif();
  image.write_to_buffer(suffix, &buffer, &size, options);
  return take(buffer, size);
}

std::string to_jpeg(const VImage& image, int quality) {
  return save(image, ".jpg", VImage::option()->set("Q", quality));
}

std::string to_png(const VImage& image) { return save(image, ".png"); }

VImage decode(const std::string& bytes) {
  return VImage::new_from_buffer(bytes.data(), bytes.size(), "").copy_memory();
}

double mean_abs_diff(const VImage& a, const VImage& b) {
  VImage resized = b;
  if (b.width() != a.width() || b.height() != a.height()) {
    resized = b.resize(double(a.width()) / b.width(),
                       VImage::option()->set("vscale", double(a.height()) / b.height()));
  }
  return (a.cast(VIPS_FORMAT_FLOAT) - resized.cast(VIPS_FORMAT_FLOAT)).abs().avg();
}

std::vector<double> pixel(const VImage& image, int x, int y) { return image.getpoint(x, y); }

}  // namespace imgflow::image::testing
