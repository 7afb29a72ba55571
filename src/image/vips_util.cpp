#include "image/vips_util.h"

#include <gmodule.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <string>

#include "image/lanczos.h"
#include "image/vips_errors.h"

namespace imgflow::image::detail {

using vips::VImage;

namespace {

// Where the HEIF module is: beside the program when it was packaged with it (a Lambda bundle
// keeps lib/vips-modules-<version>/ next to its bootstrap), else where libvips installed it.
std::string heif_module_path() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path installed(IMGFLOW_VIPS_HEIF_MODULE);
  if (!ec) {
    const std::filesystem::path bundled = self.parent_path() / "lib" /
                                          installed.parent_path().filename() /
                                          installed.filename();
    if (std::filesystem::is_regular_file(bundled, ec)) return bundled.string();
  }
  return installed.string();
}

}  // namespace

void require_heif() {
  static std::once_flag once;
  static std::string error;  // empty: loaded
  std::call_once(once, [] {
    GModule* module = g_module_open(heif_module_path().c_str(), G_MODULE_BIND_LAZY);
    if (module == nullptr) {
      error = std::string("cannot load libvips' HEIF/AVIF module: ") + g_module_error();
      return;
    }
    g_module_make_resident(module);  // its types are registered for the life of the process
    // Its loader classes are born blocked, like every loader (image::init blocks them all);
    // HEIF is one imgflow accepts.
    vips_operation_block_set("VipsForeignLoadHeif", FALSE);
  });
  if (!error.empty()) throw vips::VError(error);
}

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
        require_heif();
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

namespace {

constexpr int kStripRows = 64;

// Our passes read their source through a region, which emits no "eval" signal for
// attach_deadline's handler: they read the deadline from this field (see record_deadline).
constexpr const char* kDeadlineField = "imgflow-deadline-unix-ms";

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Our passes take plain 8-bit pixels, reduced (never enlarged) by factors their taps fit.
bool reduces_natively(const VImage& image, int width, int height) {
  const bool plain = image.format() == VIPS_FORMAT_UCHAR && image.coding() == VIPS_CODING_NONE &&
                     image.bands() <= 4;
  const bool smaller = width <= image.width() && height <= image.height() &&
                       (width < image.width() || height < image.height());
  return plain && smaller && lanczos3_tap_count(image.width(), width) <= image.width() &&
         lanczos3_tap_count(image.height(), height) <= image.height();
}

// A memory image of width x height, with every other field and all metadata of `like`.
VImage new_memory_image(const VImage& like, int width, int height) {
  VImage out(vips_image_new_memory());
  if (vips_image_pipelinev(out.get_image(), VIPS_DEMAND_STYLE_THINSTRIP, like.get_image(),
                           nullptr) != 0) {
    throw vips::VError();
  }
  out.get_image()->Xsize = width;
  out.get_image()->Ysize = height;
  // It keeps no reference to `like`, so it must not report progress through it either.
  out.get_image()->progress_signal = nullptr;
  if (vips_image_write_prepare(out.get_image()) != 0) throw vips::VError();
  return out;
}

// Source rows pulled through a region a strip at a time, top to bottom (a decoder may be
// sequential), so the full-size image never exists in memory; a memory image is read in place.
class RowSource {
 public:
  explicit RowSource(const VImage& image)
      : width_(image.width()),
        height_(image.height()),
        region_(vips::VRegion::new_from_image(image)) {
    if (image.get_typeof(kDeadlineField) != 0) {
      deadline_unix_ms_ = static_cast<std::int64_t>(image.get_double(kDeadlineField));
    }
  }

  // Rows [first, first + count) of the source, `stride()` bytes apart. `first` never decreases
  // from one call to the next.
  const VipsPel* rows(int first, int count) {
    if (first < top_ || first + count > top_ + rows_) {
      top_ = first;
      rows_ = std::min(height_ - first, std::max(kStripRows, count));
      region_.prepare(0, top_, width_, rows_);
      if (deadline_unix_ms_ > 0 && now_unix_ms() > deadline_unix_ms_) {
        OperationErrors::mark_deadline_passed();  // to_error's kTimeout
        throw vips::VError("time limit passed");
      }
    }
    return region_.addr() + static_cast<std::size_t>(first - top_) * region_.stride();
  }
  std::size_t stride() const { return region_.stride(); }

 private:
  int width_;
  int height_;
  vips::VRegion region_;
  int top_ = 0;
  int rows_ = 0;
  std::int64_t deadline_unix_ms_ = 0;
};

}  // namespace

VImage reduce_natively(const VImage& image, int width, int height) {
  const std::size_t row_bytes = VIPS_IMAGE_SIZEOF_LINE(image.get_image());
  const bool across = width < image.width();
  const bool down = height < image.height();
  const Lanczos3Taps columns = across ? lanczos3_taps(image.width(), width) : Lanczos3Taps{};
  const Lanczos3Taps rows = down ? lanczos3_taps(image.height(), height) : Lanczos3Taps{};
  VImage out = new_memory_image(image, width, height);
  VipsImage* dst = out.get_image();
  RowSource source(image);
  std::vector<std::uint8_t> tall_row(down && across ? row_bytes : 0);
  // Row by row: the vertical pass first (on the full width, but with the cheaper loop), then
  // the horizontal one on its single output row.
  for (int y = 0; y < height; ++y) {
    const VipsPel* row = nullptr;
    if (down) {
      const VipsPel* taps_rows = source.rows(rows.first[y], rows.count);
      VipsPel* target = across ? tall_row.data() : VIPS_IMAGE_ADDR(dst, 0, y);
      reduce_column_taps(taps_rows, source.stride(), rows, y, row_bytes, target);
      row = target;
    } else {
      row = source.rows(y, 1);
    }
    if (across)
      reduce_rows(row, row_bytes, 1, image.bands(), columns, VIPS_IMAGE_ADDR(dst, 0, y), 0);
  }
  return out;
}

VImage resize_exact(const VImage& image, int width, int height) {
  if (image.width() == width && image.height() == height) return image;
  const double hscale = static_cast<double>(width) / image.width();
  const double vscale = static_cast<double>(height) / image.height();
  if (!image.has_alpha() && reduces_natively(image, width, height)) {
    return reduce_natively(image, width, height);
  }
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

// The deadline travels in the signal's user-data pointer itself: no allocation to free when
// the image goes away.
void on_eval(VipsImage* image, VipsProgress* /*progress*/, void* deadline) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): the pointer is only ever a number here.
  if (now_unix_ms() > reinterpret_cast<std::intptr_t>(deadline)) {
    OperationErrors::mark_deadline_passed();  // libvips reports the kill as a plain error
    vips_image_set_kill(image, TRUE);
  }
}

}  // namespace

void record_deadline(const VImage& image, std::int64_t deadline_unix_ms) {
  vips_image_set_double(image.get_image(), kDeadlineField, static_cast<double>(deadline_unix_ms));
}

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
  if (const OperationErrors* op = OperationErrors::current(); op && op->deadline_passed()) {
    return {core::ErrorCode::kTimeout, std::string(during) + ": time limit exceeded"};
  }
  if (message.empty()) message = "libvips failed without saying why";
  return {code, std::string(during) + ": " + message};
}

}  // namespace imgflow::image::detail
