// Header-only inspection: every limit the header can answer is checked here, before a single
// pixel is decoded, so a decompression bomb costs milliseconds and kilobytes.
#include <string>

#include "image/image.h"
#include "image/vips_errors.h"
#include "image/vips_util.h"

namespace imgflow::image {
namespace {

using vips::VImage;

std::string with_commas(std::uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

core::Status check_limits(const SourceInfo& info, const recipe::Limits& limits) {
  using core::ErrorCode;
  if (info.width <= 0 || info.height <= 0) {
    return core::fail(ErrorCode::kCorrupt, "header reports an empty image");
  }
  if (info.width > limits.max_width || info.height > limits.max_height) {
    return core::fail(ErrorCode::kTooLarge, "image is " + std::to_string(info.width) + "x" +
                                                std::to_string(info.height) + " px; the limit is " +
                                                std::to_string(limits.max_width) + "x" +
                                                std::to_string(limits.max_height));
  }
  const std::uint64_t pixels = std::uint64_t(info.width) * std::uint64_t(info.height);
  if (pixels > limits.max_pixels) {
    return core::fail(ErrorCode::kTooLarge, "image has " + with_commas(pixels) +
                                                " pixels; the limit is " +
                                                with_commas(limits.max_pixels));
  }
  if (info.frames > limits.max_frames) {
    return core::fail(ErrorCode::kTooLarge, "image has " + std::to_string(info.frames) +
                                                " frames; the limit is " +
                                                std::to_string(limits.max_frames));
  }
  if (pixels * std::uint64_t(info.frames) > limits.max_pixels * 4) {
    // Many mid-sized frames are a bomb too: bound the whole animation, not just one frame.
    return core::fail(ErrorCode::kTooLarge, "animation has " +
                                                with_commas(pixels * std::uint64_t(info.frames)) +
                                                " pixels over all frames; the limit is " +
                                                with_commas(limits.max_pixels * 4));
  }
  return {};
}

}  // namespace

core::Result<SourceInfo> inspect(std::string_view bytes, const recipe::Limits& limits) {
  if (bytes.size() > limits.max_input_bytes) {
    return core::fail(core::ErrorCode::kTooLarge, "file is " + with_commas(bytes.size()) +
                                                      " bytes; the limit is " +
                                                      with_commas(limits.max_input_bytes));
  }
  auto format = sniff(bytes.substr(0, 64));
  if (!format) return core::fail(format.error());
  if (auto started = init(); !started) return core::fail(started.error());

  SourceInfo info;
  info.format = *format;
  info.bytes = bytes.size();
  detail::OperationErrors errors;  // messages about these bytes only
  try {
    // Opening an image reads only its header; pixels are decoded on demand later.
    VImage header = detail::load_source(bytes, *format, VImage::option()->set("fail_on", "error"));
    info.width = header.width();
    info.height = header.height();
    const int pages = vips_image_get_n_pages(header.get_image());
    info.frames = pages > 0 ? pages : 1;
    info.orientation = vips_image_get_orientation(header.get_image());
    if (info.orientation < 1 || info.orientation > 8) info.orientation = 1;
    info.has_alpha = header.has_alpha();
    info.progressive = header.get_typeof("interlaced") != 0 && header.get_int("interlaced") != 0;
  } catch (const vips::VError& error) {
    return core::fail(
        detail::to_error(error, "reading the image header", core::ErrorCode::kCorrupt));
  }
  if (auto ok = check_limits(info, limits); !ok) return core::fail(ok.error());
  return info;
}

}  // namespace imgflow::image
