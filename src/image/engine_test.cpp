#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/digest.h"
#include "image/image.h"
#include "image/test_images.h"

namespace imgflow::image {
namespace {

using core::ErrorCode;
using recipe::Fit;
using recipe::Format;
using ::testing::HasSubstr;
using ::testing::Not;
using vips::VImage;
using namespace imgflow::image::testing;

class Engine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(init()); }
};

recipe::Variant variant(std::string name, int w, int h, Fit fit, Format format) {
  recipe::Variant v;
  v.name = std::move(name);
  v.resize.width = w;
  v.resize.height = h;
  v.resize.fit = fit;
  v.encode.format = format;
  return v;
}

recipe::Recipe one_variant(int w, int h, Fit fit, Format format) {
  recipe::Recipe r;
  r.variants.push_back(variant("out", w, h, fit, format));
  return r;
}

Processed process_ok(const std::string& bytes, const recipe::Recipe& recipe) {
  auto result = process(bytes, recipe);
  EXPECT_TRUE(result.has_value()) << result.error().to_string();
  return result ? *result : Processed{};
}

// --- orientation ---------------------------------------------------------------------------

// Display image: red marker top-left, green marker top-right, blue elsewhere. Any of the 8
// orientations gone wrong moves a marker.
VImage oriented_card() {
  VImage card = solid(60, 40, {0, 0, 255});
  card = card.insert(solid(10, 10, {255, 0, 0}), 0, 0);
  return card.insert(solid(10, 10, {0, 255, 0}), 50, 0);
}

// The stored pixels that EXIF `orientation` turns into `display`.
VImage stored_for(const VImage& display, int orientation) {
  switch (orientation) {
    case 2:
      return display.flip(VIPS_DIRECTION_HORIZONTAL);
    case 3:
      return display.rot(VIPS_ANGLE_D180);
    case 4:
      return display.flip(VIPS_DIRECTION_VERTICAL);
    case 5:
      return display.rot(VIPS_ANGLE_D90).flip(VIPS_DIRECTION_HORIZONTAL);
    case 6:
      return display.rot(VIPS_ANGLE_D270);
    case 7:
      return display.rot(VIPS_ANGLE_D270).flip(VIPS_DIRECTION_HORIZONTAL);
    case 8:
      return display.rot(VIPS_ANGLE_D90);
    default:
      return display;
  }
}

TEST_F(Engine, AllEightExifOrientationsEndUpright) {
  for (int orientation = 1; orientation <= 8; ++orientation) {
    VImage stored = stored_for(oriented_card(), orientation).copy();
    stored.set("orientation", orientation);
    const std::string jpeg =
        save(stored, ".jpg", VImage::option()->set("Q", 95)->set("strip", false));

    const Processed out = process_ok(jpeg, one_variant(1000, 1000, Fit::kInside, Format::kPng));
    ASSERT_EQ(out.renditions.size(), 1U);
    EXPECT_EQ(out.source.orientation, orientation);
    const VImage img = decode(out.renditions[0].bytes);
    ASSERT_EQ(img.width(), 60) << "orientation " << orientation;
    ASSERT_EQ(img.height(), 40) << "orientation " << orientation;
    const auto tl = pixel(img, 4, 4);
    const auto tr = pixel(img, 55, 4);
    const auto bl = pixel(img, 4, 35);
    EXPECT_GT(tl[0], 200) << "red marker not top-left, orientation " << orientation;
    EXPECT_GT(tr[1], 200) << "green marker not top-right, orientation " << orientation;
    EXPECT_GT(bl[2], 200) << "bottom-left not blue, orientation " << orientation;
  }
}

// Phone photos at web sizes take other paths than a small card: whether the JPEG decoder
// shrinks on load (by 1, 2, 4 or 8) decides whether the reduction runs before the rotation, and
// a card small enough to sit in the decoder's line buffer never shows an out-of-order read.
struct RotationCase {
  int shrink;  // the decoder's shrink-on-load factor for an 800x800 box
  bool progressive;
};

class EngineRotation : public Engine, public ::testing::WithParamInterface<RotationCase> {};

// Blue, with a red marker top-left and a green one top-right, each a sixth of the width.
VImage marked_photo(int width, int height) {
  const int m = width / 6;
  VImage card = solid(width, height, {0, 0, 255});
  card = card.insert(solid(m, m, {255, 0, 0}), 0, 0);
  return card.insert(solid(m, m, {0, 255, 0}), width - m, 0);
}

// The box is 800x800: an image of more rows than libvips' sequential line cache keeps (about
// 500), or the out-of-order read never shows.
TEST_P(EngineRotation, EveryOrientationEndsUprightAtItsSize) {
  const auto [shrink, progressive] = GetParam();
  const VImage display = marked_photo(800 * shrink, 600 * shrink).copy_memory();
  for (int orientation = 1; orientation <= 8; ++orientation) {
    VImage stored = stored_for(display, orientation).copy_memory();
    stored.set("orientation", orientation);
    const std::string jpeg =
        save(stored, ".jpg",
             VImage::option()->set("Q", 90)->set("strip", false)->set("interlace", progressive));

    auto result = process(jpeg, one_variant(800, 800, Fit::kInside, Format::kJpeg));
    ASSERT_TRUE(result) << "orientation " << orientation << ": " << result.error().to_string();
    const VImage img = decode(result->renditions.at(0).bytes);
    ASSERT_EQ(img.width(), 800) << "orientation " << orientation;
    ASSERT_EQ(img.height(), 600) << "orientation " << orientation;
    EXPECT_GT(pixel(img, 40, 40)[0], 200) << "red not top-left, orientation " << orientation;
    EXPECT_GT(pixel(img, 760, 40)[1], 200) << "green not top-right, orientation " << orientation;
    EXPECT_GT(pixel(img, 40, 560)[2], 200) << "bottom-left not blue, orientation " << orientation;
  }
}

INSTANTIATE_TEST_SUITE_P(ShrinkOnLoad, EngineRotation,
                         ::testing::Values(RotationCase{1, false}, RotationCase{1, true},
                                           RotationCase{2, false}, RotationCase{2, true},
                                           RotationCase{4, false}, RotationCase{4, true},
                                           RotationCase{8, false}, RotationCase{8, true}),
                         [](const auto& test) {
                           return "Shrink" + std::to_string(test.param.shrink) +
                                  (test.param.progressive ? "Progressive" : "Baseline");
                         });

// The sizes users reported, through the default recipe (its largest box is 1600): each is
// either left at its size or reduced by a factor the decoder cannot take on load.
TEST_F(Engine, RotatedPhotosAtReportedSizesProcessWithTheDefaultRecipe) {
  for (const auto& [w, h] :
       {std::pair{1024, 768}, std::pair{1200, 800}, std::pair{1280, 960}, std::pair{1440, 1080},
        std::pair{1600, 1000}, std::pair{1600, 1200}, std::pair{3200, 2400}}) {
    VImage stored = stored_for(marked_photo(w, h).copy_memory(), 6).copy_memory();
    stored.set("orientation", 6);
    const std::string jpeg = save(stored, ".jpg", VImage::option()->set("strip", false));
    auto result = process(jpeg, recipe::default_recipe());
    ASSERT_TRUE(result) << w << "x" << h << ": " << result.error().to_string();
    const Rendition& large = result->renditions.at(0);
    EXPECT_EQ(large.width, std::min(w, 1600)) << w << "x" << h;
    EXPECT_EQ(large.height, w > 1600 ? 1200 : h) << w << "x" << h;
  }
}

// --- error messages ------------------------------------------------------------------------
// libvips keeps one error buffer for the whole process; every message imgflow reports must be
// about its own image, whatever ran before it or beside it.

std::string truncated(const std::string& bytes) { return bytes.substr(0, bytes.size() / 2); }

std::string error_of(const std::string& bytes, const recipe::Recipe& recipe) {
  auto result = process(bytes, recipe);
  return result ? "(processed)" : result.error().message;
}

TEST_F(Engine, ErrorsLeftBehindBySuccessfulDecodesDoNotReachTheNextImage) {
  // libheif reads past the end of a valid file while probing it, and libvips records an error
  // for every such read although the decode succeeds.
  const std::string heic = save(test_card(640, 480), ".heic", VImage::option()->set("effort", 0));
  const recipe::Recipe recipe = one_variant(320, 320, Fit::kInside, Format::kJpeg);
  ASSERT_TRUE(process(heic, recipe));

  const std::string message = error_of(truncated(to_jpeg(test_card(1280, 960))), recipe);
  EXPECT_THAT(message, HasSubstr("Premature end of input file"));
  EXPECT_THAT(message, Not(HasSubstr("seek")));
}

TEST_F(Engine, ConcurrentFailuresEachReportOnlyTheirOwnError) {
  const recipe::Recipe recipe = one_variant(320, 320, Fit::kInside, Format::kJpeg);
  const std::string jpeg = truncated(to_jpeg(test_card(1280, 960)));
  const std::string png = truncated(to_png(test_card(1280, 960)));
  std::vector<std::string> jpeg_messages(20);
  std::vector<std::string> png_messages(20);
  std::thread other([&] {
    for (std::string& m : png_messages) m = error_of(png, recipe);
  });
  for (std::string& m : jpeg_messages) m = error_of(jpeg, recipe);
  other.join();
  for (const std::string& m : jpeg_messages) {
    EXPECT_THAT(m, HasSubstr("Premature end of input file"));
    EXPECT_THAT(m, Not(HasSubstr("png")));
  }
  for (const std::string& m : png_messages) {
    EXPECT_THAT(m, HasSubstr("png"));
    EXPECT_THAT(m, Not(HasSubstr("Premature")));
  }
}

TEST_F(Engine, ADecodeErrorRaisedOnLibvipsWorkerThreadsIsReported) {
  // Under the 1600 box nothing is reduced: libvips' own threads run the decode, and their
  // errors must still reach this image's message.
  const std::string message =
      error_of(truncated(to_jpeg(test_card(1200, 800))), recipe::default_recipe());
  EXPECT_THAT(message, HasSubstr("Premature end of input file"));
}

// --- colour --------------------------------------------------------------------------------

TEST_F(Engine, CmykJpegBecomesSrgbCloseToTheOriginal) {
  const VImage original = test_card(120, 80);
  const VImage cmyk =
      original.icc_transform("cmyk", VImage::option()->set("input_profile", "srgb"));
  ASSERT_EQ(cmyk.interpretation(), VIPS_INTERPRETATION_CMYK);
  for (bool keep_profile : {true, false}) {
    VImage stored = cmyk.copy();
    if (!keep_profile) stored.remove(VIPS_META_ICC_NAME);
    const std::string jpeg =
        save(stored, ".jpg", VImage::option()->set("Q", 95)->set("strip", false));
    const Processed out = process_ok(jpeg, one_variant(500, 500, Fit::kInside, Format::kPng));
    const VImage img = decode(out.renditions[0].bytes);
    EXPECT_EQ(img.bands(), 3);
    EXPECT_LT(mean_abs_diff(original, img), 12.0) << "profile embedded: " << keep_profile;
  }
}

// An sRGB profile changes nothing and its conversion is skipped; any other profile (here
// Display P3, whose numbers for the same colours differ) is still converted.
TEST_F(Engine, EmbeddedProfilesAreHonouredAndSrgbOnesChangeNothing) {
  const VImage original = test_card(120, 80);
  for (const char* profile : {"srgb", "p3", "srgb"}) {  // srgb twice: the remembered verdict
    const VImage stored = original.icc_transform(
        profile, VImage::option()->set("input_profile", "srgb")->set("depth", 8));
    ASSERT_NE(stored.get_typeof(VIPS_META_ICC_NAME), 0u);
    const std::string png = save(stored, ".png", VImage::option()->set("strip", false));
    const Processed out = process_ok(png, one_variant(500, 500, Fit::kInside, Format::kPng));
    const VImage img = decode(out.renditions[0].bytes);
    EXPECT_LT(mean_abs_diff(original, img), 1.0) << profile;
    if (std::string(profile) == "p3") {
      EXPECT_GT(mean_abs_diff(original, stored), 3.0);
    }
  }
}

TEST_F(Engine, SixteenBitPngBecomesEightBitWithSameColours) {
  const VImage original = test_card(64, 64);
  const VImage wide = original.colourspace(VIPS_INTERPRETATION_RGB16);
  ASSERT_EQ(wide.format(), VIPS_FORMAT_USHORT);
  const Processed out = process_ok(to_png(wide), one_variant(500, 500, Fit::kInside, Format::kPng));
  const VImage img = decode(out.renditions[0].bytes);
  EXPECT_EQ(img.format(), VIPS_FORMAT_UCHAR);
  EXPECT_LT(mean_abs_diff(original, img), 2.0);
}

TEST_F(Engine, GreyscaleStaysGrey) {
  const VImage grey = test_card(64, 64).colourspace(VIPS_INTERPRETATION_B_W);
  const Processed out = process_ok(to_jpeg(grey), one_variant(32, 32, Fit::kInside, Format::kJpeg));
  const VImage img = decode(out.renditions[0].bytes);
  EXPECT_EQ(img.bands(), 1);
  EXPECT_LT(mean_abs_diff(grey.resize(0.5), img), 6.0);
}

TEST_F(Engine, TransparentPngToJpegIsWhiteNotBlack) {
  VImage rgba = solid(40, 40, {255, 0, 0}).bandjoin_const({0});  // fully transparent
  rgba = rgba.insert(solid(10, 10, {255, 0, 0}).bandjoin_const({255}), 15, 15);
  const Processed out = process_ok(to_png(rgba), one_variant(40, 40, Fit::kInside, Format::kJpeg));
  const VImage img = decode(out.renditions[0].bytes);
  EXPECT_EQ(img.bands(), 3);
  const auto corner = pixel(img, 2, 2);
  for (double v : corner) EXPECT_GT(v, 240);
  const auto centre = pixel(img, 20, 20);
  EXPECT_GT(centre[0], 200);
  EXPECT_LT(centre[1], 60);
}

TEST_F(Engine, BackgroundColourIsConfigurable) {
  const VImage rgba = solid(20, 20, {0, 0, 0}).bandjoin_const({0});
  recipe::Recipe r = one_variant(20, 20, Fit::kInside, Format::kJpeg);
  r.output.background = {0, 0, 255};
  const VImage img = decode(process_ok(to_png(rgba), r).renditions[0].bytes);
  const auto p = pixel(img, 10, 10);
  EXPECT_LT(p[0], 30);
  EXPECT_GT(p[2], 220);
}

TEST_F(Engine, AutoFormatKeepsAlphaAsPngAndOpaqueAsJpeg) {
  recipe::Recipe r = one_variant(50, 50, Fit::kInside, Format::kAuto);
  const VImage rgba = solid(30, 30, {10, 20, 30}).bandjoin_const({128});
  EXPECT_EQ(process_ok(to_png(rgba), r).renditions[0].format, Format::kPng);
  EXPECT_EQ(process_ok(to_png(solid(30, 30, {1, 2, 3})), r).renditions[0].format, Format::kJpeg);
}

// --- animation -----------------------------------------------------------------------------

std::string animated_gif(int frames) {
  std::vector<VImage> pages;
  for (int i = 0; i < frames; ++i) pages.push_back(solid(48, 32, {i * 50.0, 255 - i * 50.0, 90}));
  VImage strip = VImage::arrayjoin(pages, VImage::option()->set("across", 1)).copy();
  strip.set("page-height", 32);
  strip.set("delay", std::vector<int>(frames, 100));
  return save(strip, ".gif");
}

TEST_F(Engine, AnimatedGifKeepsItsFramesWhenTheOutputCanAnimate) {
  const std::string gif = animated_gif(5);
  recipe::Recipe r;
  r.variants.push_back(variant("anim", 24, 24, Fit::kInside, Format::kGif));
  r.variants.push_back(variant("webp", 24, 24, Fit::kCover, Format::kWebp));
  r.variants.push_back(variant("still", 24, 24, Fit::kInside, Format::kJpeg));
  const Processed out = process_ok(gif, r);
  ASSERT_EQ(out.renditions.size(), 3U);
  EXPECT_EQ(out.source.frames, 5);
  EXPECT_EQ(out.renditions[0].frames, 5);
  EXPECT_EQ(out.renditions[1].frames, 5);
  EXPECT_EQ(out.renditions[2].frames, 1);
  const VImage anim =
      VImage::new_from_buffer(out.renditions[0].bytes.data(), out.renditions[0].bytes.size(), "",
                              VImage::option()->set("n", -1));
  EXPECT_EQ(vips_image_get_n_pages(anim.get_image()), 5);
  EXPECT_EQ(anim.width(), 24);
  EXPECT_EQ(vips_image_get_page_height(anim.get_image()), 16);
  const VImage webp =
      VImage::new_from_buffer(out.renditions[1].bytes.data(), out.renditions[1].bytes.size(), "",
                              VImage::option()->set("n", -1));
  EXPECT_EQ(vips_image_get_n_pages(webp.get_image()), 5);
  EXPECT_EQ(webp.width(), 24);
  EXPECT_EQ(webp.height(), 24 * 5);
}

TEST_F(Engine, TooManyFramesAreRefusedFromTheHeader) {
  recipe::Recipe r = one_variant(24, 24, Fit::kInside, Format::kGif);
  r.limits.max_frames = 3;
  auto result = process(animated_gif(5), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(result.error().message.find("5 frames"), std::string::npos);
}

// A GIF whose canvas is `width` x `height` and whose `frames` frames are each one pixel: a few
// kilobytes that decode to canvas x frames x 4 bytes.
std::string gif_of_tiny_frames(int width, int height, int frames) {
  auto le16 = [](int v) { return std::string{char(v & 0xFF), char((v >> 8) & 0xFF)}; };
  std::string gif = "GIF89a" + le16(width) + le16(height) + std::string("\xF0\x00\x00", 3);
  gif += std::string("\x00\x00\x00\xFF\xFF\xFF", 6);                      // a 2-colour global table
  gif += std::string("\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19);  // loop
  for (int i = 0; i < frames; ++i) {
    gif += std::string("\x21\xF9\x04\x00\x0A\x00\x00\x00", 8);  // 100 ms
    gif += "\x2C" + le16(i % width) + le16(0) + le16(1) + le16(1) + std::string(1, '\0');
    gif += std::string("\x02\x02\x44\x01\x00", 5);  // LZW: clear, pixel 0, end
  }
  return gif + "\x3B";
}

TEST_F(Engine, AnAnimationThatWouldTakeAGigabyteIsRefusedFromItsHeader) {
  const std::string bomb = gif_of_tiny_frames(1000, 1000, 199);
  ASSERT_LT(bomb.size(), 6000U);
  auto result = process(bomb, recipe::default_recipe());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTooLarge);
  EXPECT_THAT(result.error().message, HasSubstr("199 frames"));
  EXPECT_THAT(result.error().message, HasSubstr("limits.max_memory"));
}

TEST_F(Engine, TheMemoryLimitAdmitsWhatItsEstimateAllows) {
  // 200x200, 20 frames, one animated variant: about 6 MiB at most.
  recipe::Recipe r = one_variant(200, 200, Fit::kInside, Format::kGif);
  r.limits.max_memory = 1U << 20U;
  const std::string gif = gif_of_tiny_frames(200, 200, 20);
  ASSERT_FALSE(process(gif, r));
  r.limits.max_memory = 16U << 20U;
  const Processed out = process_ok(gif, r);
  EXPECT_EQ(out.renditions.at(0).frames, 20);
  EXPECT_GT(out.memory_estimate, 200U * 200U * 4U * 20U);
  EXPECT_LE(out.memory_estimate, r.limits.max_memory);
}

TEST_F(Engine, VariantsThatDoNotAnimateTakeTheFirstFrameOnly) {
  recipe::Recipe r = one_variant(24, 24, Fit::kInside, Format::kWebp);  // animated
  r.variants.push_back(variant("still", 24, 24, Fit::kInside, Format::kJpeg));
  r.variants.push_back(variant("small", 12, 12, Fit::kInside, Format::kWebp));
  const Processed out = process_ok(animated_gif(5), r);
  EXPECT_EQ(out.renditions.at(0).frames, 5);
  EXPECT_EQ(out.renditions.at(1).frames, 1);
  EXPECT_EQ(out.renditions.at(2).frames, 5);  // not made from the still one
}

// --- recipe checks ---------------------------------------------------------------------------
// Mistakes in a recipe that would otherwise show only as every upload failing, or a quiet
// substitution, are found once, at load, with their position.

recipe::Recipe parsed(const std::string& yaml) {
  auto r = recipe::parse_recipe(yaml, std::filesystem::path(IMGFLOW_SOURCE_DIR) / "check.yaml");
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : recipe::Recipe{};
}

constexpr std::string_view kOneVariant = "variants: [{name: a, width: 100}]\n";

TEST_F(Engine, RecipeCheckRefusesAFontThatIsNotInstalled) {
  auto checked = check_recipe(
      parsed(std::string(kOneVariant) + "watermark:\n  text: hi\n  font: DejaVu Sanz Bold\n"));
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("check.yaml:4:9: font family 'DejaVu Sanz'"));
  EXPECT_THAT(checked.error().message, HasSubstr("would draw 'DejaVu Sans'"));
}

TEST_F(Engine, RecipeCheckWarnsOfCharactersNoFontCanDraw) {
  // U+E000 is private use: no font the project installs has it.
  auto checked =
      check_recipe(parsed(std::string(kOneVariant) + "watermark:\n  text: \"ok \uE000\"\n"));
  ASSERT_TRUE(checked) << checked.error().message;
  ASSERT_EQ(checked->size(), 1U);
  EXPECT_THAT(checked->front(), HasSubstr("check.yaml:3:9: no installed font can draw U+E000"));
  auto plain = check_recipe(parsed(std::string(kOneVariant) + "watermark:\n  text: ok\n"));
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->empty());
}

TEST_F(Engine, RecipeCheckRefusesAWatermarkFileThatIsNotAnImage) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("imgflow-mark-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "mark.png") << "these are not pixels\n";
  auto recipe = recipe::parse_recipe(std::string(kOneVariant) + "watermark:\n  image: mark.png\n",
                                     dir / "imgflow.yaml");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(recipe) << recipe.error().message;
  auto checked = check_recipe(*recipe);
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("imgflow.yaml:3:10: "));
  EXPECT_THAT(checked.error().message, HasSubstr("mark.png cannot be used as the watermark"));
}

// --- limits and bad input ------------------------------------------------------------------

std::string png_chunk(const std::string& type, const std::string& data) {
  std::string out = core::be32_bytes(static_cast<std::uint32_t>(data.size())) + type + data;
  return out + core::be32_bytes(core::crc32(type + data));
}

// A PNG whose header claims 60000×60000 and whose pixel data is garbage: refusing it with
// kTooLarge proves the refusal came from the header, before any decode was attempted.
std::string png_bomb() {
  std::string ihdr = core::be32_bytes(60000) + core::be32_bytes(60000);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  return std::string("\x89PNG\r\n\x1A\n", 8) + png_chunk("IHDR", ihdr) +
         png_chunk("IDAT", std::string(64, 'x')) + png_chunk("IEND", "");
}

TEST_F(Engine, DecompressionBombIsRefusedFromTheHeader) {
  recipe::Recipe r = one_variant(100, 100, Fit::kInside, Format::kJpeg);
  r.limits.max_width = 100'000;
  r.limits.max_height = 100'000;
  auto result = process(png_bomb(), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTooLarge) << result.error().to_string();
  EXPECT_NE(result.error().message.find("3,600,000,000 pixels"), std::string::npos)
      << result.error().message;
  // With default limits the per-axis cap catches it first.
  auto by_axis = process(png_bomb(), one_variant(100, 100, Fit::kInside, Format::kJpeg));
  ASSERT_FALSE(by_axis);
  EXPECT_EQ(by_axis.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(by_axis.error().message.find("60000x60000"), std::string::npos);
}

TEST_F(Engine, InputBytesLimitIsCheckedFirst) {
  recipe::Recipe r = one_variant(10, 10, Fit::kInside, Format::kJpeg);
  r.limits.max_input_bytes = 100;
  auto result = process(to_jpeg(test_card(100, 100)), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTooLarge);
}

TEST_F(Engine, TruncatedJpegIsCorrupt) {
  const std::string jpeg = to_jpeg(test_card(400, 300));
  auto result =
      process(jpeg.substr(0, jpeg.size() / 2), one_variant(100, 100, Fit::kInside, Format::kJpeg));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kCorrupt) << result.error().to_string();
}

TEST_F(Engine, TruncatedPngIsCorrupt) {
  const std::string png = to_png(test_card(200, 200));
  auto result = process(png.substr(0, png.size() * 2 / 3),
                        one_variant(100, 100, Fit::kInside, Format::kJpeg));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kCorrupt) << result.error().to_string();
}

TEST_F(Engine, EmptyTextAndSvgInputsAreRefused) {
  const auto r = one_variant(100, 100, Fit::kInside, Format::kJpeg);
  EXPECT_EQ(process("", r).error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(process("just some words, no pixels\n", r).error().code, ErrorCode::kUnsupported);
  const std::string svg =
      "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect width='10' "
      "height='10'/></svg>";
  auto refused = process(svg, r);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(refused.error().message.find("SVG"), std::string::npos);
}

TEST_F(Engine, TimeLimitStopsSlowWork) {
  recipe::Recipe r = one_variant(4000, 4000, Fit::kInside, Format::kPng);
  r.variants[0].encode.png_compression = 9;
  r.limits.time_limit_ms = 1;
  auto result = process(to_jpeg(test_card(3000, 3000)), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTimeout) << result.error().to_string();
}

// --- geometry, decode once -----------------------------------------------------------------

TEST_F(Engine, TimeLimitStopsASlowDecodeAndResize) {
  recipe::Recipe r = one_variant(1000, 1000, Fit::kInside, Format::kJpeg);
  r.limits.time_limit_ms = 1;
  auto result = process(to_jpeg(test_card(3000, 3000)), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTimeout) << result.error().to_string();
  EXPECT_NE(result.error().message.find("decoding"),
            std::string::npos)  // stopped inside, not after
      << result.error().to_string();
}

TEST_F(Engine, OneDecodeAtTheShrinkOnLoadSizeServesEveryVariant) {
  recipe::Recipe r;
  r.variants.push_back(variant("large", 1000, 1000, Fit::kInside, Format::kJpeg));
  r.variants.push_back(variant("medium", 500, 500, Fit::kInside, Format::kJpeg));
  r.variants.push_back(variant("thumb", 100, 100, Fit::kCover, Format::kWebp));
  const Processed out = process_ok(to_jpeg(test_card(4000, 3000)), r);
  // 4000×3000 needs 1000×750 at most: the JPEG decoder's 1/4 shrink gives exactly that.
  EXPECT_EQ(out.decoded_width, 1000);
  EXPECT_EQ(out.decoded_height, 750);
  ASSERT_EQ(out.renditions.size(), 3U);
  EXPECT_EQ(decode(out.renditions[0].bytes).width(), 1000);
  EXPECT_EQ(decode(out.renditions[0].bytes).height(), 750);
  EXPECT_EQ(decode(out.renditions[1].bytes).width(), 500);
  const VImage thumb = decode(out.renditions[2].bytes);
  EXPECT_EQ(thumb.width(), 100);
  EXPECT_EQ(thumb.height(), 100);
  EXPECT_LT(mean_abs_diff(test_card(4000, 3000).resize(0.25), decode(out.renditions[0].bytes)),
            4.0);
}

TEST_F(Engine, ContainPadsAndFillStretches) {
  recipe::Recipe r;
  r.variants.push_back(variant("contain", 100, 100, Fit::kContain, Format::kPng));
  r.variants.push_back(variant("fill", 100, 30, Fit::kFill, Format::kPng));
  const Processed out = process_ok(to_png(solid(200, 100, {200, 0, 0})), r);
  const VImage contain = decode(out.renditions[0].bytes);
  EXPECT_EQ(contain.width(), 100);
  EXPECT_EQ(contain.height(), 100);
  EXPECT_GT(pixel(contain, 50, 5)[1], 240);  // padding is the (white) background
  EXPECT_GT(pixel(contain, 50, 50)[0], 180);
  const VImage fill = decode(out.renditions[1].bytes);
  EXPECT_EQ(fill.width(), 100);
  EXPECT_EQ(fill.height(), 30);
}

TEST_F(Engine, SmartCropKeepsTheInterestingPart) {
  // A flat grey field with a busy patch on the right: attention must crop towards it.
  VImage field = solid(300, 100, {128, 128, 128});
  field = field.insert(test_card(80, 80).flip(VIPS_DIRECTION_HORIZONTAL), 210, 10);
  recipe::Recipe r = one_variant(100, 100, Fit::kCover, Format::kPng);
  r.variants[0].resize.gravity = recipe::Gravity::kAttention;
  const VImage crop = decode(process_ok(to_png(field), r).renditions[0].bytes);
  EXPECT_EQ(crop.width(), 100);
  EXPECT_GT(crop.deviate(), 20.0);  // the busy patch, not the flat field
}

// --- watermark -----------------------------------------------------------------------------

recipe::Watermark white_mark() {
  recipe::Watermark w;
  w.kind = recipe::Watermark::Kind::kImage;
  w.image_bytes = to_png(solid(100, 50, {255, 255, 255}).bandjoin_const({255}));
  w.opacity = 1.0;
  w.scale = 0.25;
  w.margin = 10;
  w.min_width = 300;
  return w;
}

TEST_F(Engine, ImageWatermarkLandsBottomRightAndSkipsSmallVariants) {
  recipe::Recipe r;
  r.variants.push_back(variant("big", 400, 400, Fit::kInside, Format::kPng));
  r.variants.push_back(variant("small", 200, 200, Fit::kInside, Format::kPng));
  r.watermark = white_mark();
  const Processed out = process_ok(to_png(solid(400, 400, {0, 0, 0})), r);
  const VImage big = decode(out.renditions[0].bytes);
  EXPECT_TRUE(out.renditions[0].watermarked);
  // Mark is 25% of 400 = 100 wide, 50 high, 10 px from the bottom-right corner.
  EXPECT_GT(pixel(big, 340, 365)[0], 250);
  EXPECT_LT(pixel(big, 380, 395)[0], 5);  // inside the margin
  EXPECT_LT(pixel(big, 20, 20)[0], 5);
  EXPECT_FALSE(out.renditions[1].watermarked);
  EXPECT_LT(decode(out.renditions[1].bytes).max(), 5);
}

TEST_F(Engine, WatermarkOpacityBlends) {
  recipe::Recipe r = one_variant(400, 400, Fit::kInside, Format::kPng);
  r.watermark = white_mark();
  r.watermark.opacity = 0.5;
  const VImage img = decode(process_ok(to_png(solid(400, 400, {0, 0, 0})), r).renditions[0].bytes);
  EXPECT_NEAR(pixel(img, 340, 365)[0], 128, 8);
}

TEST_F(Engine, TiledWatermarkCoversTheImage) {
  recipe::Recipe r = one_variant(400, 400, Fit::kInside, Format::kPng);
  r.watermark = white_mark();
  r.watermark.tile = true;
  const VImage img = decode(process_ok(to_png(solid(400, 400, {0, 0, 0})), r).renditions[0].bytes);
  EXPECT_GT(pixel(img, 5, 5)[0], 250);
  EXPECT_GT(img.avg(), 100);
}

TEST_F(Engine, TextWatermarkRendersIntoTheCorner) {
  recipe::Recipe r = one_variant(600, 400, Fit::kInside, Format::kPng);
  r.watermark.kind = recipe::Watermark::Kind::kText;
  r.watermark.text = "imgflow";
  r.watermark.opacity = 1.0;
  const VImage img = decode(process_ok(to_png(solid(600, 400, {0, 0, 0})), r).renditions[0].bytes);
  const VImage corner = img.extract_area(400, 300, 200, 100);
  const VImage opposite = img.extract_area(0, 0, 200, 100);
  EXPECT_GT(corner.max(), 200);
  EXPECT_LT(opposite.max(), 5);
}

// The default mark is white text at 60%: alone it vanishes on a white image. It must show on
// any background, and the manifest must not claim a mark nobody can see.
TEST_F(Engine, TheDefaultTextMarkShowsOnWhiteAndOnBlack) {
  const recipe::Recipe r = recipe::default_recipe();  // large 1600, watermarked, JPEG
  for (const double level : {255.0, 0.0}) {
    const Processed out = process_ok(to_jpeg(solid(1600, 1200, {level, level, level})), r);
    const Rendition& large = out.renditions.at(0);
    ASSERT_TRUE(large.watermarked) << level;
    const VImage img = decode(large.bytes);
    // The mark sits in the bottom-right corner, 20% of the width wide.
    const VImage corner = img.extract_area(1200, 1000, 400, 200).extract_band(0);
    const VImage far = img.extract_area(0, 0, 400, 200).extract_band(0);
    if (level > 0) {
      EXPECT_LT(corner.min(), 120) << "no dark halo around white text on white";
      EXPECT_GT(far.min(), 245);
    } else {
      EXPECT_GT(corner.max(), 150) << "white text missing on black";
      EXPECT_LT(far.max(), 10);
    }
  }
}

TEST_F(Engine, AMarkThatCannotBeSeenIsNotClaimed) {
  recipe::Recipe r = one_variant(400, 400, Fit::kInside, Format::kPng);
  r.watermark = white_mark();  // white, onto white
  const Processed white = process_ok(to_png(solid(400, 400, {255, 255, 255})), r);
  EXPECT_FALSE(white.renditions.at(0).watermarked);
  const Processed grey = process_ok(to_png(solid(400, 400, {128, 128, 128})), r);
  EXPECT_TRUE(grey.renditions.at(0).watermarked);
}

// --- encode and metadata -------------------------------------------------------------------

TEST_F(Engine, EachOutputFormatEncodes) {
  const std::string src = to_jpeg(test_card(300, 200));
  const std::pair<Format, SourceFormat> formats[] = {{Format::kJpeg, SourceFormat::kJpeg},
                                                     {Format::kPng, SourceFormat::kPng},
                                                     {Format::kWebp, SourceFormat::kWebp},
                                                     {Format::kAvif, SourceFormat::kAvif},
                                                     {Format::kGif, SourceFormat::kGif}};
  for (const auto& [format, expected] : formats) {
    recipe::Recipe r = one_variant(150, 150, Fit::kInside, format);
    r.variants[0].encode.effort = 2;
    const Processed out = process_ok(src, r);
    ASSERT_EQ(out.renditions.size(), 1U);
    auto sniffed = sniff(out.renditions[0].bytes.substr(0, 64));
    ASSERT_TRUE(sniffed) << recipe::extension(format);
    EXPECT_EQ(*sniffed, expected) << recipe::extension(format);
    EXPECT_LT(mean_abs_diff(test_card(150, 100), decode(out.renditions[0].bytes)), 12.0)
        << recipe::extension(format);
  }
}

TEST_F(Engine, LowerQualityMeansFewerBytes) {
  const std::string src = to_jpeg(test_card(600, 400));
  recipe::Recipe r;
  r.variants.push_back(variant("q90", 600, 600, Fit::kInside, Format::kJpeg));
  r.variants.push_back(variant("q40", 600, 600, Fit::kInside, Format::kJpeg));
  r.variants[0].encode.quality = 90;
  r.variants[1].encode.quality = 40;
  const Processed out = process_ok(src, r);
  EXPECT_LT(out.renditions[1].bytes.size(), out.renditions[0].bytes.size());
}

std::string jpeg_with_gps_and_copyright() {
  VImage img = test_card(64, 64).copy();
  img.set("exif-ifd0-Copyright", "Jane Photographer");
  img.set("exif-ifd0-Artist", "Jane");
  img.set("exif-ifd3-GPSLatitudeRef", "N");
  img.set("exif-ifd3-GPSLatitude", "51/1 30/1 0/1");
  return save(img, ".jpg", VImage::option()->set("strip", false));
}

bool has_field(const VImage& img, const char* prefix) {
  gchar** names = vips_image_get_fields(img.get_image());
  bool found = false;
  for (gchar** f = names; *f != nullptr; ++f)
    found = found || std::string(*f).rfind(prefix, 0) == 0;
  g_strfreev(names);
  return found;
}

// keep_icc promises an embedded sRGB profile, whether or not the source had one.
TEST_F(Engine, KeepIccEmbedsSrgbEvenWhenTheSourceHadNoProfile) {
  VImage plain = test_card(200, 100).copy();
  ASSERT_EQ(plain.get_typeof(VIPS_META_ICC_NAME), 0U);
  recipe::Recipe r;
  for (Format format : {Format::kJpeg, Format::kPng, Format::kWebp}) {
    r.variants.push_back(
        variant(std::string(recipe::extension(format)), 100, 100, Fit::kInside, format));
  }
  const std::string src = to_png(plain);
  for (const Rendition& out : process_ok(src, r).renditions) {
    EXPECT_EQ(decode(out.bytes).get_typeof(VIPS_META_ICC_NAME), 0U) << out.variant;
  }
  r.metadata.keep_icc = true;
  for (const Rendition& out : process_ok(src, r).renditions) {
    const VImage img = decode(out.bytes);
    ASSERT_NE(img.get_typeof(VIPS_META_ICC_NAME), 0U) << out.variant;
    std::size_t size = 0;
    const void* icc = img.get_blob(VIPS_META_ICC_NAME, &size);
    EXPECT_NE(std::string_view(static_cast<const char*>(icc), size).find("sRGB"),
              std::string_view::npos)
        << out.variant;
  }
}

// A square thumbnail slot of a small source: not enlarged, but square (imgproxy's fill-down).
TEST_F(Engine, CoverWithoutUpscaleKeepsTheBoxShapeForASmallSource) {
  const Processed out =
      process_ok(to_jpeg(test_card(160, 120)), one_variant(200, 200, Fit::kCover, Format::kPng));
  EXPECT_EQ(out.renditions.at(0).width, 120);
  EXPECT_EQ(out.renditions.at(0).height, 120);
}

TEST_F(Engine, MetadataIsStrippedByDefaultAndCopyrightKeptOnRequest) {
  const std::string src = jpeg_with_gps_and_copyright();
  ASSERT_TRUE(has_field(decode(src), "exif-ifd3-GPS"));
  recipe::Recipe r = one_variant(64, 64, Fit::kInside, Format::kJpeg);
  const VImage stripped = decode(process_ok(src, r).renditions[0].bytes);
  EXPECT_FALSE(has_field(stripped, "exif-"));
  EXPECT_FALSE(has_field(stripped, "exif-ifd3-GPS"));
  for (Format format : {Format::kWebp, Format::kPng, Format::kAvif}) {
    recipe::Recipe other = one_variant(64, 64, Fit::kInside, format);
    const VImage out = decode(process_ok(src, other).renditions[0].bytes);
    // libvips 8.14's WebP saver writes a minimal EXIF block of its own (resolution,
    // orientation 1) even when stripping; nothing of the source's may survive.
    EXPECT_FALSE(has_field(out, "exif-ifd3-GPS")) << recipe::extension(format);
    EXPECT_FALSE(has_field(out, "exif-ifd0-Copyright")) << recipe::extension(format);
    EXPECT_FALSE(has_field(out, "exif-ifd0-Artist")) << recipe::extension(format);
  }

  r.metadata.keep_copyright = true;
  const VImage kept = decode(process_ok(src, r).renditions[0].bytes);
  EXPECT_FALSE(has_field(kept, "exif-ifd3-GPS"));
  ASSERT_TRUE(has_field(kept, "exif-ifd0-Copyright"));
  EXPECT_NE(std::string(kept.get_string("exif-ifd0-Copyright")).find("Jane Photographer"),
            std::string::npos);
}

TEST_F(Engine, HeifAndAvifInputsDecode) {
  const std::string avif = save(test_card(128, 96), ".avif", VImage::option()->set("effort", 0));
  const Processed out = process_ok(avif, one_variant(64, 64, Fit::kInside, Format::kJpeg));
  EXPECT_EQ(out.source.format, SourceFormat::kAvif);
  EXPECT_LT(mean_abs_diff(test_card(64, 48), decode(out.renditions[0].bytes)), 10.0);
}

TEST_F(Engine, PlaceholderIsATinyWebpDataUri) {
  const Processed out =
      process_ok(to_jpeg(test_card(400, 300)), one_variant(100, 100, Fit::kInside, Format::kJpeg));
  ASSERT_EQ(out.placeholder.rfind("data:image/webp;base64,", 0), 0U);
  EXPECT_LT(out.placeholder.size(), 600U);
}

TEST_F(Engine, TheDominantColourIsTheMostCommonOneNotTheMean) {
  // Three quarters grey, one quarter pure red: the mean would be a reddish grey.
  const VImage grey = solid(300, 400, {128, 128, 128});
  const VImage red = solid(100, 400, {255, 0, 0});
  const Processed out = process_ok(to_png(grey.join(red, VIPS_DIRECTION_HORIZONTAL)),
                                   one_variant(100, 100, Fit::kInside, Format::kJpeg));
  EXPECT_EQ(out.dominant_color, "#808080");

  // Transparent pixels are not seen: a red dot on a transparent canvas is red.
  const VImage clear = solid(200, 200, {0, 0, 255}).bandjoin(VImage::black(200, 200));
  const VImage dot = solid(60, 60, {255, 0, 0}).bandjoin_const({255});
  const Processed dotted = process_ok(to_png(clear.insert(dot, 70, 70)),
                                      one_variant(100, 100, Fit::kInside, Format::kPng));
  // The dot's edges blend into its bin when the thumbnail resamples: red within a level or two.
  ASSERT_EQ(dotted.dominant_color.size(), 7U);
  const unsigned long rgb = std::stoul(dotted.dominant_color.substr(1), nullptr, 16);
  EXPECT_GE(rgb >> 16U, 0xf0U) << dotted.dominant_color;
  EXPECT_LE((rgb >> 8U) & 0xffU, 0x10U) << dotted.dominant_color;
  EXPECT_LE(rgb & 0xffU, 0x10U) << dotted.dominant_color;
}

// --- encoding a subset (reprocess) ----------------------------------------------------------

TEST_F(Engine, EncodingASubsetMakesTheSameBytesAsEncodingEveryVariant) {
  // Later variants are derived from earlier ones, so a subset must still resize them all.
  recipe::Recipe recipe;
  recipe.variants = {variant("large", 900, 900, Fit::kInside, Format::kJpeg),
                     variant("medium", 400, 400, Fit::kInside, Format::kWebp),
                     variant("small", 150, 150, Fit::kInside, Format::kPng),
                     variant("square", 120, 120, Fit::kCover, Format::kJpeg)};
  const std::string jpeg = to_jpeg(marked_photo(1800, 1200));
  const Processed all = process_ok(jpeg, recipe);
  ASSERT_EQ(all.renditions.size(), 4U);

  auto some = process(jpeg, recipe, {false, true, false, true});
  ASSERT_TRUE(some) << some.error().to_string();
  ASSERT_EQ(some->renditions.size(), 2U);
  EXPECT_EQ(some->renditions[0].variant, "medium");
  EXPECT_EQ(some->renditions[1].variant, "square");
  EXPECT_EQ(some->renditions[0].bytes, all.renditions[1].bytes);
  EXPECT_EQ(some->renditions[1].bytes, all.renditions[3].bytes);
  EXPECT_EQ(some->placeholder, all.placeholder);
  EXPECT_EQ(some->dominant_color, all.dominant_color);

  auto none = process(jpeg, recipe, std::vector<bool>(4, false));
  ASSERT_TRUE(none) << none.error().to_string();
  EXPECT_TRUE(none->renditions.empty());
  EXPECT_EQ(none->placeholder, all.placeholder);

  auto wrong = process(jpeg, recipe, {true});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgflow::image
