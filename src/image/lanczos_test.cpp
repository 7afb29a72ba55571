#include "image/lanczos.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "image/image.h"
#include "image/test_images.h"
#include "image/vips_util.h"

namespace imgflow::image::detail {
namespace {

using vips::VImage;

class Lanczos : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(init()); }
};

// Photo-like content: smooth colour, fine noise (texture), and hard-edged blocks that reach the
// image's borders, where a wrong edge rule shows first.
VImage photo_like(int width, int height, int bands) {
  VImage noise = VImage::gaussnoise(width, height, VImage::option()->set("sigma", 30.0));
  VImage card = testing::test_card(width, height);
  VImage image =
      (card * 0.7 + VImage::bandjoin({noise, noise, noise}) * 0.5 + 20.0).cast(VIPS_FORMAT_UCHAR);
  image = image.insert(testing::solid(width / 5, height, {250, 10, 40}), 0, 0);
  image = image.insert(testing::solid(width / 7, height / 2, {5, 200, 250}), width - width / 7, 0);
  image = image.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  if (bands == 1) image = image.colourspace(VIPS_INTERPRETATION_B_W);
  return image.copy_memory();
}

double psnr(const VImage& a, const VImage& b) {
  const VImage diff = a.cast(VIPS_FORMAT_FLOAT) - b.cast(VIPS_FORMAT_FLOAT);
  const double mse = (diff * diff).avg();
  return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

double max_abs_diff(const VImage& a, const VImage& b) {
  return (a.cast(VIPS_FORMAT_FLOAT) - b.cast(VIPS_FORMAT_FLOAT)).abs().max();
}

VImage vips_resize(const VImage& image, int width, int height) {
  return image.resize(double(width) / image.width(),
                      VImage::option()->set("vscale", double(height) / image.height()));
}

TEST_F(Lanczos, TapsSumToOneAndStayInsideTheInput) {
  for (const auto& [in, out] : std::vector<std::pair<int, int>>{
           {2560, 1600}, {1600, 800}, {1600, 320}, {37, 11}, {13, 12}, {100, 20}}) {
    SCOPED_TRACE(std::to_string(in) + " -> " + std::to_string(out));
    const Lanczos3Taps taps = lanczos3_taps(in, out);
    ASSERT_EQ(taps.first.size(), std::size_t(out));
    for (int x = 0; x < out; ++x) {
      EXPECT_GE(taps.first[x], 0);
      EXPECT_LE(taps.first[x] + taps.count, in);
      int sum = 0;
      for (int k = 0; k < taps.count; ++k) sum += taps.weights[std::size_t(x * taps.count + k)];
      EXPECT_EQ(sum, kWeightOne);
    }
  }
}

TEST_F(Lanczos, FlatImageStaysExactlyFlatUpToTheEdges) {
  const VImage flat = testing::solid(203, 161, {200, 31, 97}).copy_memory();
  for (const auto& [w, h] :
       std::vector<std::pair<int, int>>{{150, 161}, {101, 80}, {40, 33}, {203, 27}, {7, 161}}) {
    const VImage out = reduce_natively(flat, w, h);
    ASSERT_EQ(out.width(), w);
    ASSERT_EQ(out.height(), h);
    EXPECT_EQ(out.min(), 31);
    EXPECT_EQ(out.max(), 200);
    EXPECT_EQ(out.getpoint(0, 0), (std::vector<double>{200, 31, 97}));
    EXPECT_EQ(out.getpoint(w - 1, h - 1), (std::vector<double>{200, 31, 97}));
  }
}

// The J1 reductions (2560 -> 1600, 1600 -> 800, 1600 -> 320 wide) and odd ones, against
// libvips' own resize: the same filter, so only fixed-point rounding may differ.
TEST_F(Lanczos, MatchesLibvipsResizeOnAPhotoLikeImage) {
  for (int bands : {3, 1}) {
    const VImage source = photo_like(640, 400, bands);
    for (const auto& [w, h] : std::vector<std::pair<int, int>>{
             {400, 250}, {320, 200}, {80, 50}, {611, 400}, {333, 217}, {640, 123}}) {
      SCOPED_TRACE(std::to_string(bands) + " bands -> " + std::to_string(w) + "x" +
                   std::to_string(h));
      const VImage ours = resize_exact(source, w, h);
      const VImage theirs = vips_resize(source, w, h);
      ASSERT_EQ(ours.width(), theirs.width());
      ASSERT_EQ(ours.height(), theirs.height());
      ASSERT_EQ(ours.bands(), theirs.bands());
      EXPECT_GT(psnr(ours, theirs), 40.0);
      // The border columns, where a wrong edge rule would darken or brighten the image.
      const VImage left = ours.extract_area(0, 0, 2, h);
      const VImage right = ours.extract_area(w - 2, 0, 2, h);
      EXPECT_LE(max_abs_diff(left, theirs.extract_area(0, 0, 2, h)), 8.0);
      EXPECT_LE(max_abs_diff(right, theirs.extract_area(w - 2, 0, 2, h)), 8.0);
      EXPECT_LT(std::abs(left.avg() - theirs.extract_area(0, 0, 2, h).avg()), 0.5);
      EXPECT_LT(std::abs(right.avg() - theirs.extract_area(w - 2, 0, 2, h).avg()), 0.5);
    }
  }
}

TEST_F(Lanczos, KeepsMetadataAndInterpretation) {
  VImage source = photo_like(300, 200, 3).copy();
  source.set("imgflow-test", "kept");
  const VImage out = reduce_natively(source, 120, 150);
  EXPECT_EQ(out.interpretation(), VIPS_INTERPRETATION_sRGB);
  EXPECT_EQ(out.get_string("imgflow-test"), std::string("kept"));
}

TEST_F(Lanczos, FourBandsWithoutAlphaAndTinyInputsFallBackCleanly) {
  // CMYK-like four bands take the vectorised path too; a 3-pixel-wide input is too small for
  // the taps and goes to libvips.
  const VImage cmyk = photo_like(200, 50, 3)
                          .bandjoin_const({77})
                          .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_CMYK));
  const VImage ours = resize_exact(cmyk, 90, 50);
  EXPECT_GT(psnr(ours, vips_resize(cmyk, 90, 50)), 40.0);
  const VImage tiny = testing::solid(3, 5, {1, 2, 3});
  EXPECT_EQ(resize_exact(tiny, 1, 5).width(), 1);
}

// Random bytes with runs of 0 and 255 in them, so the filter's lobes over- and undershoot and
// the clamps to 0..255 are exercised as well as the sums.
std::vector<std::uint8_t> noisy_bytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<std::uint8_t> out(size);
  for (std::size_t i = 0; i < size; ++i) {
    const int phase = static_cast<int>(i / 29 % 4);  // 29: not a multiple of the band count
    out[i] = static_cast<std::uint8_t>(phase == 1 ? 0 : phase == 3 ? 255 : byte(random));
  }
  return out;
}

// Reduces `rows` rows of `in` with one kernel. The input ends right after the last row's last
// pixel (with ASan, a read past the end of a row fails there); the output has a margin after
// each row, which must come back untouched.
std::vector<std::uint8_t> reduce_with(RowKernel kernel, const std::vector<std::uint8_t>& in,
                                      std::size_t in_stride, int rows, int bands,
                                      const Lanczos3Taps& taps) {
  constexpr std::size_t kMargin = 5;
  constexpr std::uint8_t kUntouched = 0xa5;
  const std::size_t row_bytes = static_cast<std::size_t>(taps.out_size) * bands;
  const std::size_t out_stride = row_bytes + kMargin;
  std::vector<std::uint8_t> out(out_stride * rows, kUntouched);
  reduce_rows_with(kernel, in.data(), in_stride, rows, bands, taps, out.data(), out_stride);
  for (int y = 0; y < rows; ++y) {
    for (std::size_t i = row_bytes; i < out_stride; ++i)
      EXPECT_EQ(out[y * out_stride + i], kUntouched) << "written past the end of row " << y;
  }
  return out;
}

// Compares `kernel` with the scalar loop, bit for bit. Sizes: tap counts odd (7, 9, 13, 21, 31)
// and even (8, 10, 14, 16); odd and even output widths; inputs so narrow that every pixel is too
// near the row end for the vector loops (7 -> 7, 8 -> 7) or nearly so (13 -> 12). The taps must
// fit in the input, so outputs are at least 7 pixels: there is no 1-pixel output to test, but
// odd widths leave the vector loops a last single pixel.
void expect_matches_scalar(RowKernel kernel) {
  const std::vector<std::pair<int, int>> sizes = {
      {7, 7},     {8, 7},      {13, 12},    {21, 15},    {20, 9},   {41, 16},
      {50, 40},   {64, 48},    {37, 11},    {99, 98},    {100, 20}, {333, 217},
      {640, 611}, {1601, 800}, {1600, 320}, {2560, 1600}};
  unsigned seed = 1;
  for (int bands : {3, 4}) {
    for (const auto& [in_size, out_size] : sizes) {
      const Lanczos3Taps taps = lanczos3_taps(in_size, out_size);
      SCOPED_TRACE(std::to_string(bands) + " bands, " + std::to_string(in_size) + " -> " +
                   std::to_string(out_size) + ", " + std::to_string(taps.count) + " taps");
      const int rows = 3;
      const std::size_t row_bytes = static_cast<std::size_t>(in_size) * bands;
      const std::size_t in_stride = row_bytes + 7;  // rows apart by more than their pixels
      const std::vector<std::uint8_t> in = noisy_bytes(in_stride * (rows - 1) + row_bytes, seed++);
      const std::vector<std::uint8_t> ours = reduce_with(kernel, in, in_stride, rows, bands, taps);
      const std::vector<std::uint8_t> scalar =
          reduce_with(RowKernel::kScalar, in, in_stride, rows, bands, taps);
      ASSERT_EQ(ours, scalar);
    }
  }
}

TEST_F(Lanczos, Avx2RowsMatchScalarBitForBit) {
  if (!row_kernel_available(RowKernel::kAvx2))
    GTEST_SKIP() << "this CPU (or build) has no AVX2, so the AVX2 row loop cannot run here";
  expect_matches_scalar(RowKernel::kAvx2);
}

TEST_F(Lanczos, Sse2RowsMatchScalarBitForBit) {
  if (!row_kernel_available(RowKernel::kSse2))
    GTEST_SKIP() << "this build has no SSE2 row loop (not an x86-64 build)";
  expect_matches_scalar(RowKernel::kSse2);
}

}  // namespace
}  // namespace imgflow::image::detail
