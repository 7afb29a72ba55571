#include "image/vips_util.h"

#include <chrono>
#include <cmath>
#include <string>

namespace imgflow::image::detail {

using vips::VImage;

VImage load_source(std::string_view bytes, SourceFormat format, vips::VOption* options) {
  // Borrowed blob: no copy of a possibly large upload; libvips reads it lazily.
  VipsBlob* raw = vips_blob_new(nullptr, bytes.data(), bytes.size());
  // Each format goes to its own loader: the generic dispatcher could pick another one.
  VImage image;
  try {
    switch (format) {
      case SourceFormat::kJpeg:
        image = VImage::jpegload_buffer(raw, options);
        break;
      case SourceFormat::kPng:
        image = VImage::pngload_buffer(raw, options);
        break;
      case SourceFormat::kWebp:
        image = VImage::webpload_buffer(raw, options);
        break;
      case SourceFormat::kGif:
        image = VImage::gifload_buffer(raw, options);
        break;
      case SourceFormat::kTiff:
        image = VImage::tiffload_buffer(raw, options);
        break;
      case SourceFormat::kHeif:
      case SourceFormat::kAvif:
        image = VImage::heifload_buffer(raw, options);
        break;
    }
  } catch (...) {
    vips_area_unref(VIPS_AREA(raw));
    throw;
  }
  vips_area_unref(VIPS_AREA(raw));
  return image;
}

std::string take_blob(VipsBlob* blob) {
  std::size_t size = 0;
  const void* data = vips_blob_get(blob, &size);
  std::string out(static_cast<const char*>(data), size);
  vips_area_unref(VIPS_AREA(blob));
  return out;
}

std::vector<std::string> field_names(const VImage& image) {
  gchar** names = vips_image_get_fields(image.get_image());
  std::vector<std::string> out;
  for (gchar** p = names; p != nullptr && *p != nullptr; ++p) out.emplace_back(*p);
  g_strfreev(names);
  return out;
}

int frame_height(const VImage& image) {
  const int page = vips_image_get_page_height(image.get_image());
  return page > 0 ? page : image.height();
}

int frame_count(const VImage& image) { return image.height() / frame_height(image); }

VImage first_frame(const VImage& image) {
  if (frame_count(image) <= 1) return image;
  VImage first = image.extract_area(0, 0, image.width(), frame_height(image));
  first = first.copy();
  first.remove("page-height");
  first.remove("n-pages");
  first.remove("delay");
  first.remove("loop");
  return first;
}

VImage resize_exact(const VImage& image, int width, int height) {
  if (image.width() == width && image.height() == height) return image;
  const double hscale = static_cast<double>(width) / image.width();
  const double vscale = static_cast<double>(height) / image.height();
  if (image.has_alpha()) {
    // Premultiplied, so transparent pixels do not bleed dark fringes into their neighbours.
    return image.premultiply()
        .resize(hscale, VImage::option()->set("vscale", vscale))
        .unpremultiply()
        .cast(image.format());
  }
  return image.resize(hscale, VImage::option()->set("vscale", vscale));
}

namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The deadline travels in the signal's user-data pointer itself: no allocation to free when
// the image goes away.
void on_eval(VipsImage* image, VipsProgress* /*progress*/, void* deadline) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): the pointer is only ever a number here.
  if (now_unix_ms() > reinterpret_cast<std::intptr_t>(deadline)) vips_image_set_kill(image, TRUE);
}

}  // namespace

void attach_deadline(const VImage& image, std::int64_t deadline_unix_ms) {
  VipsImage* raw = image.get_image();
  vips_image_set_progress(raw, TRUE);
  g_signal_connect(raw, "eval", G_CALLBACK(on_eval),
                   // NOLINTNEXTLINE(performance-no-int-to-ptr): see on_eval.
                   reinterpret_cast<void*>(static_cast<std::intptr_t>(deadline_unix_ms)));
}

core::Error to_error(const vips::VError& error, std::string_view during, core::ErrorCode code) {
  std::string message = error.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  for (char& c : message) {
    if (c == '\n') c = ';';
  }
  vips_error_clear();
  if (message.find("killed") != std::string::npos) {
    return {core::ErrorCode::kTimeout, std::string(during) + ": time limit exceeded"};
  }
  return {code, std::string(during) + ": " + message};
}

}  // namespace imgflow::image::detail
