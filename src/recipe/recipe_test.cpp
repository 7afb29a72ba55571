#include "recipe/recipe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace imgflow::recipe {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using ::testing::HasSubstr;

const fs::path kExamplePath = fs::path(IMGFLOW_SOURCE_DIR) / "imgflow.example.yaml";

core::Result<Recipe> parse(std::string_view yaml) { return parse_recipe(yaml, "imgflow.yaml"); }

Recipe parse_ok(std::string_view yaml) {
  core::Result<Recipe> recipe = parse(yaml);
  EXPECT_TRUE(recipe.has_value()) << recipe.error().message;
  return recipe ? *recipe : Recipe{};
}

void write_file(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("imgflow-recipe-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- The example and the built-in default. ---------------------------------------------------

TEST(RecipeExample, LoadsWithTheDocumentedVariants) {
  const core::Result<Recipe> recipe = load_recipe(kExamplePath);
  ASSERT_TRUE(recipe.has_value()) << recipe.error().message;
  ASSERT_EQ(recipe->variants.size(), 3U);

  const Variant& large = recipe->variants[0];
  EXPECT_EQ(large.name, "large");
  EXPECT_EQ(large.resize.width, 1600);
  EXPECT_EQ(large.resize.height, 1600);
  EXPECT_EQ(large.resize.fit, Fit::kInside);
  EXPECT_EQ(large.encode.format, Format::kJpeg);
  EXPECT_EQ(large.encode.quality, 80);
  EXPECT_TRUE(large.watermark);

  const Variant& medium = recipe->variants[1];
  EXPECT_EQ(medium.name, "medium");
  EXPECT_EQ(medium.resize.width, 800);
  EXPECT_EQ(medium.encode.format, Format::kJpeg);
  EXPECT_TRUE(medium.watermark);

  const Variant& thumb = recipe->variants[2];
  EXPECT_EQ(thumb.name, "thumb");
  EXPECT_EQ(thumb.resize.width, 200);
  EXPECT_EQ(thumb.resize.height, 200);
  EXPECT_EQ(thumb.resize.fit, Fit::kCover);
  EXPECT_EQ(thumb.resize.gravity, Gravity::kAttention);
  EXPECT_EQ(thumb.encode.format, Format::kWebp);
  EXPECT_FALSE(thumb.watermark);

  const Watermark& mark = recipe->watermark;
  EXPECT_EQ(mark.kind, Watermark::Kind::kText);
  EXPECT_EQ(mark.text, "© imgflow");
  EXPECT_EQ(mark.position, Position::kBottomRight);
  EXPECT_DOUBLE_EQ(mark.opacity, 0.6);
  EXPECT_EQ(recipe->limits.max_input_bytes, 50ULL << 20U);
  EXPECT_EQ(recipe->output.key_template, "{dir}/{file}/{variant}.{ext}");
  EXPECT_EQ(recipe->output.variant_cache_control(), "public, no-cache");
}

TEST(RecipeExample, DefaultRecipeIsTheExampleFile) {
  const core::Result<Recipe> example = load_recipe(kExamplePath);
  ASSERT_TRUE(example.has_value()) << example.error().message;
  const Recipe builtin = default_recipe();
  EXPECT_EQ(builtin.hash(), example->hash());
  EXPECT_EQ(builtin.variants.size(), example->variants.size());
  EXPECT_EQ(builtin.output.cache_control, example->output.cache_control);
  EXPECT_EQ(builtin.limits.max_pixels, example->limits.max_pixels);
}

TEST(RecipeExample, ExampleStatesTheStructDefaults) {
  // The example documents defaults by writing them out: it must agree with the structs.
  const Recipe recipe = default_recipe();
  const Watermark defaults;
  EXPECT_EQ(recipe.watermark.font, defaults.font);
  EXPECT_EQ(recipe.watermark.margin, defaults.margin);
  EXPECT_DOUBLE_EQ(recipe.watermark.scale, defaults.scale);
  EXPECT_EQ(recipe.watermark.min_width, defaults.min_width);
  EXPECT_EQ(recipe.watermark.color, defaults.color);
  const Limits limits;
  EXPECT_EQ(recipe.limits.max_pixels, limits.max_pixels);
  EXPECT_EQ(recipe.limits.max_width, limits.max_width);
  EXPECT_EQ(recipe.limits.max_frames, limits.max_frames);
  EXPECT_EQ(recipe.limits.time_limit_ms, limits.time_limit_ms);
  EXPECT_EQ(recipe.limits.max_memory, limits.max_memory);
  const Output output;
  EXPECT_EQ(recipe.output.key_template, output.key_template);
  EXPECT_EQ(recipe.output.cache_control, output.cache_control);
  EXPECT_EQ(recipe.output.background, output.background);
  EXPECT_EQ(recipe.output.auto_opaque, output.auto_opaque);
  EXPECT_EQ(recipe.output.auto_alpha, output.auto_alpha);
}

// ---- Parsing valid recipes. ------------------------------------------------------------------

TEST(RecipeParse, AppliesDefaultsToOmittedKeys) {
  const Recipe recipe = parse_ok("variants:\n  - name: a\n    width: 100\n");
  ASSERT_EQ(recipe.variants.size(), 1U);
  const Variant& v = recipe.variants[0];
  const Resize resize;
  const Encode encode;
  EXPECT_EQ(v.resize.width, 100);
  EXPECT_EQ(v.resize.height, 0);
  EXPECT_EQ(v.resize.fit, resize.fit);
  EXPECT_EQ(v.resize.gravity, resize.gravity);
  EXPECT_EQ(v.resize.upscale, resize.upscale);
  EXPECT_EQ(v.encode.format, encode.format);
  EXPECT_EQ(v.encode.quality, encode.quality);
  EXPECT_EQ(v.encode.progressive, encode.progressive);
  EXPECT_EQ(v.encode.effort, encode.effort);
  EXPECT_TRUE(v.watermark);
  EXPECT_EQ(recipe.watermark.kind, Watermark::Kind::kNone);
  EXPECT_EQ(recipe.limits.max_pixels, Limits{}.max_pixels);
  EXPECT_EQ(recipe.output.key_template, Output{}.key_template);
  EXPECT_FALSE(recipe.metadata.keep_copyright);
}

TEST(RecipeParse, ReadsEveryVariantKey) {
  const Recipe recipe = parse_ok(R"(
variants:
  - name: all_keys-1
    width: 640
    height: 480
    fit: cover
    gravity: northeast
    upscale: true
    format: png
    quality: 55
    progressive: false
    chroma_subsampling: false
    png_compression: 9
    png_palette: true
    lossless: true
    effort: 7
    keep_animation: false
    watermark: false
)");
  ASSERT_EQ(recipe.variants.size(), 1U);
  const Variant& v = recipe.variants[0];
  EXPECT_EQ(v.name, "all_keys-1");
  EXPECT_EQ(v.resize.width, 640);
  EXPECT_EQ(v.resize.height, 480);
  EXPECT_EQ(v.resize.fit, Fit::kCover);
  EXPECT_EQ(v.resize.gravity, Gravity::kNorthEast);
  EXPECT_TRUE(v.resize.upscale);
  EXPECT_EQ(v.encode.format, Format::kPng);
  EXPECT_EQ(v.encode.quality, 55);
  EXPECT_FALSE(v.encode.progressive);
  EXPECT_FALSE(v.encode.chroma_subsampling);
  EXPECT_EQ(v.encode.png_compression, 9);
  EXPECT_TRUE(v.encode.png_palette);
  EXPECT_TRUE(v.encode.lossless);
  EXPECT_EQ(v.encode.effort, 7);
  EXPECT_FALSE(v.encode.keep_animation);
  EXPECT_FALSE(v.watermark);
}

TEST(RecipeParse, ReadsSectionsColoursAndSizes) {
  const Recipe recipe = parse_ok(R"(
variants: [{name: a, width: 10}]
watermark: {text: "hi", color: "#102030", position: top-left, opacity: 0.25, scale: 0, tile: true}
limits: {max_pixels: 1000, max_input_bytes: 10MB, max_frames: 1}
metadata: {keep_copyright: true, keep_icc: true}
output:
  key_template: "v2/{dir}/{file}/{variant}-{hash}.{ext}"
  cache_control: "public, max-age=600"
  background: black
  auto_opaque: webp
  auto_alpha: avif
)");
  EXPECT_EQ(recipe.watermark.kind, Watermark::Kind::kText);
  EXPECT_EQ(recipe.watermark.color, (Rgb{0x10, 0x20, 0x30}));
  EXPECT_EQ(recipe.watermark.position, Position::kTopLeft);
  EXPECT_DOUBLE_EQ(recipe.watermark.opacity, 0.25);
  EXPECT_DOUBLE_EQ(recipe.watermark.scale, 0.0);
  EXPECT_TRUE(recipe.watermark.tile);
  EXPECT_EQ(recipe.limits.max_pixels, 1000U);
  EXPECT_EQ(recipe.limits.max_input_bytes, 10'000'000U);
  EXPECT_EQ(recipe.limits.max_frames, 1);
  EXPECT_TRUE(recipe.metadata.keep_copyright);
  EXPECT_TRUE(recipe.metadata.keep_icc);
  EXPECT_EQ(recipe.output.key_template, "v2/{dir}/{file}/{variant}-{hash}.{ext}");
  EXPECT_EQ(recipe.output.variant_cache_control(), "public, max-age=600");
  EXPECT_EQ(recipe.output.background, (Rgb{0, 0, 0}));
  EXPECT_EQ(recipe.output.auto_opaque, Format::kWebp);
  EXPECT_EQ(recipe.output.auto_alpha, Format::kAvif);
}

TEST(RecipeParse, SizesAcceptIntegersAndUnits) {
  const auto bytes = [](std::string_view size) {
    const Recipe recipe = parse_ok(
        "variants: [{name: a, width: 1}]\nlimits: {max_input_bytes: " + std::string(size) + "}\n");
    return recipe.limits.max_input_bytes;
  };
  EXPECT_EQ(bytes("1234"), 1234U);
  EXPECT_EQ(bytes("50MiB"), 50ULL << 20U);
  EXPECT_EQ(bytes("\"50 MiB\""), 50ULL << 20U);
  EXPECT_EQ(bytes("10MB"), 10'000'000U);
  EXPECT_EQ(bytes("2GiB"), 2ULL << 30U);
  EXPECT_EQ(bytes("512KiB"), 512U * 1024U);
  EXPECT_EQ(bytes("7B"), 7U);
}

TEST(RecipeParse, EmptySectionsMeanDefaults) {
  // Commenting out every key of a section leaves it empty, not broken.
  const Recipe recipe = parse_ok("variants: [{name: a, width: 1}]\nlimits:\n  # max_frames: 3\n");
  EXPECT_EQ(recipe.limits.max_frames, Limits{}.max_frames);
}

// ---- Errors: file:line:column, what is wrong, what is allowed. -------------------------------

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::vector<std::string> expected;  // substrings of the message
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class RecipeErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(RecipeErrorTest, NamesThePlaceAndWhatIsAllowed) {
  const ErrorCase& c = GetParam();
  const core::Result<Recipe> recipe = parse(c.yaml);
  ASSERT_FALSE(recipe.has_value()) << "accepted:\n" << c.yaml;
  EXPECT_EQ(recipe.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(recipe.error().message, ::testing::StartsWith("imgflow.yaml:"));
  for (const std::string& part : c.expected) {
    EXPECT_THAT(recipe.error().message, HasSubstr(part));
  }
}

const std::string kOk = "variants: [{name: a, width: 10}]\n";

INSTANTIATE_TEST_SUITE_P(
    Recipe, RecipeErrorTest,
    ::testing::Values(
        ErrorCase{"UnknownFit",
                  "variants:\n  - name: large\n    width: 100\n    fit: covr\n",
                  {"imgflow.yaml:4:10: unknown fit 'covr'; allowed: inside, cover, contain, fill, "
                   "outside"}},
        ErrorCase{"UnknownVariantKey",
                  "variants:\n  - name: large\n    widht: 100\n",
                  {"imgflow.yaml:3:5: unknown key 'widht' in variant 'large'; allowed: name, "
                   "width, height, fit, gravity, upscale, format, quality,"}},
        ErrorCase{"UnknownKeyBeforeName",
                  "variants:\n  - hieght: 1\n    name: small\n",
                  {"imgflow.yaml:2:5: unknown key 'hieght' in variant 'small'"}},
        ErrorCase{"UnknownTopLevelKey",
                  "variant:\n  - name: a\n",
                  {"imgflow.yaml:1:1: unknown key 'variant' at the top level; allowed: variants, "
                   "watermark, limits, metadata, output"}},
        ErrorCase{"UnknownSectionKey",
                  kOk + "limits:\n  max_pixel: 5\n",
                  {"imgflow.yaml:3:3: unknown key 'max_pixel' in limits; allowed: max_pixels,"}},
        ErrorCase{"QualityOutOfRange",
                  "variants:\n  - name: a\n    width: 10\n    quality: 120\n",
                  {"imgflow.yaml:4:14: quality 120 out of range; allowed: 1..100"}},
        ErrorCase{"MissingVariants",
                  "limits:\n  max_frames: 10\n",
                  {"imgflow.yaml:1:1: missing required key 'variants'; allowed top-level keys: "
                   "variants,"}},
        ErrorCase{"EmptyDocument", "", {"imgflow.yaml:1:1: missing required key 'variants'"}},
        ErrorCase{"EmptyVariantList",
                  "variants: []\n",
                  {"imgflow.yaml:1:11: variants: expected a list of 1..64 variants, got an empty "
                   "list"}},
        ErrorCase{"VariantsNotAList",
                  "variants: large\n",
                  {"imgflow.yaml:1:11: variants: expected a list", "got 'large'"}},
        ErrorCase{"DuplicateVariantName",
                  "variants:\n  - name: a\n    width: 10\n  - name: a\n    width: 20\n",
                  {"imgflow.yaml:4:5: duplicate variant name 'a' (also variant #1); allowed: each "
                   "name once"}},
        ErrorCase{"InvalidVariantName",
                  "variants:\n  - name: Large\n    width: 10\n",
                  {"imgflow.yaml:2:11: invalid variant name 'Large'; allowed: 1..64 of a-z 0-9 _ "
                   "-"}},
        ErrorCase{"VariantNameTooLong",
                  "variants:\n  - name: " + std::string(65, 'a') + "\n    width: 10\n",
                  {"imgflow.yaml:2:11: invalid variant name", "allowed: 1..64"}},
        ErrorCase{"VariantWithoutName",
                  "variants:\n  - width: 10\n",
                  {"imgflow.yaml:2:5: variant #1 has no name"}},
        ErrorCase{"NoWidthOrHeight",
                  "variants:\n  - name: a\n    fit: inside\n",
                  {"imgflow.yaml:2:5: variant 'a' needs width or height (at least one); allowed: "
                   "1..65535"}},
        ErrorCase{"NegativeWidth",
                  "variants:\n  - name: a\n    width: -5\n",
                  {"imgflow.yaml:3:12: width -5 out of range; allowed: 0..65535"}},
        ErrorCase{"HugeHeight",
                  "variants:\n  - name: a\n    height: 99999999999999999999999\n",
                  {"imgflow.yaml:3:13: height 99999999999999999999999 out of range"}},
        ErrorCase{"NotAnInteger",
                  "variants:\n  - {name: a, width: abc}\n",
                  {"imgflow.yaml:2:22: width: expected an integer, got 'abc'; allowed: 0..65535"}},
        ErrorCase{"FractionalInteger",
                  "variants:\n  - {name: a, width: 10.5}\n",
                  {"imgflow.yaml:2:22: width: expected an integer, got '10.5'"}},
        ErrorCase{"MappingForInteger",
                  "variants:\n  - name: a\n    width: {x: 1}\n",
                  {"imgflow.yaml:3:12: width: expected an integer, got a mapping"}},
        ErrorCase{"EmptyValue",
                  "variants:\n  - name: a\n    width:\n",
                  {"imgflow.yaml:3:5: width: expected an integer, got nothing"}},
        ErrorCase{"NotABoolean",
                  "variants:\n  - name: a\n    width: 1\n    watermark: yes\n",
                  {"imgflow.yaml:4:16: watermark: expected true or false, got 'yes'; allowed: "
                   "true, false"}},
        ErrorCase{"DuplicateKey",
                  "variants:\n  - name: a\n    width: 10\n    width: 20\n",
                  {"imgflow.yaml:4:5: duplicate key 'width' in variant 'a'"}},
        ErrorCase{"CoverNeedsBothSides",
                  "variants:\n  - name: a\n    width: 10\n    fit: cover\n",
                  {"imgflow.yaml:4:10: fit 'cover' in variant 'a' needs both width and height"}},
        ErrorCase{"GravityWithoutCover",
                  "variants:\n  - name: a\n    width: 10\n    gravity: north\n",
                  {"imgflow.yaml:4:5: gravity in variant 'a' applies only to cropping; allowed "
                   "with: fit: cover"}},
        ErrorCase{"UnknownGravity",
                  "variants:\n  - {name: a, width: 9, height: 9, fit: cover, gravity: middle}\n",
                  {"unknown gravity 'middle'; allowed: centre, center, north,", "entropy"}},
        ErrorCase{"UnknownFormat",
                  "variants:\n  - {name: a, width: 9, format: tiff}\n",
                  {"imgflow.yaml:2:33: unknown format 'tiff'; allowed: auto, jpeg, jpg, png, "
                   "webp, avif, gif"}},
        ErrorCase{"AutoIsNotAConcreteFormat",
                  kOk + "output: {auto_opaque: auto}\n",
                  {"imgflow.yaml:2:23: unknown auto_opaque 'auto'; allowed: jpeg, jpg, png,"}},
        ErrorCase{"UnquotedHashColour",
                  kOk + "output:\n  background: #ffffff\n",
                  {"imgflow.yaml:3:3: background: expected a colour, got nothing (quote it",
                   "allowed: \"#rrggbb\""}},
        ErrorCase{"BadColour",
                  kOk + "output:\n  background: \"#fffffz\"\n",
                  {"imgflow.yaml:3:15: unknown background '#fffffz'; allowed: \"#rrggbb\" "
                   "(quoted), white, black"}},
        ErrorCase{"BadSize",
                  kOk + "limits:\n  max_input_bytes: 50XB\n",
                  {"imgflow.yaml:3:20: max_input_bytes: expected a size, got '50XB'; allowed: an "
                   "integer or a number with a unit"}},
        ErrorCase{"SizeOverflow",
                  kOk + "limits:\n  max_input_bytes: 99999999GiB\n",
                  {"imgflow.yaml:3:20: max_input_bytes 99999999GiB out of range"}},
        ErrorCase{"OpacityOutOfRange",
                  kOk + "watermark:\n  text: x\n  opacity: 1.5\n",
                  {"imgflow.yaml:4:12: opacity 1.5 out of range; allowed: 0..1"}},
        ErrorCase{"OpacityNotANumber",
                  kOk + "watermark:\n  text: x\n  opacity: nan\n",
                  {"imgflow.yaml:4:12: opacity: expected a number, got 'nan'"}},
        ErrorCase{"UnknownPosition",
                  kOk + "watermark:\n  text: x\n  position: bottom_right\n",
                  {"imgflow.yaml:4:13: unknown position 'bottom_right'; allowed: top-left,"}},
        ErrorCase{"WatermarkTextAndImage",
                  kOk + "watermark:\n  text: x\n  image: mark.png\n",
                  {"imgflow.yaml:4:3: watermark has both text and image; allowed: one of image, "
                   "text"}},
        ErrorCase{"WatermarkWithoutMark",
                  kOk + "watermark:\n  opacity: 0.5\n",
                  {"imgflow.yaml:2:1: watermark needs text or image"}},
        ErrorCase{"WatermarkTextEmpty",
                  kOk + "watermark:\n  text: \"\"\n",
                  {"imgflow.yaml:3:9: text is empty"}},
        ErrorCase{"WatermarkTextNotUtf8",
                  kOk + "watermark:\n  text: \"\xff\xfe\"\n",
                  {"imgflow.yaml:3:9: text is not valid UTF-8"}},
        ErrorCase{"UnknownPlaceholder",
                  kOk + "output:\n  key_template: \"{dir}/{size}/{variant}.{ext}\"\n",
                  {"imgflow.yaml:3:17: unknown placeholder '{size}' in key_template; allowed: "
                   "{dir}, {file}, {name}, {variant}, {ext}, {hash}"}},
        ErrorCase{"UnclosedPlaceholder",
                  kOk + "output:\n  key_template: \"{dir}/{variant}.{ext\"\n",
                  {"imgflow.yaml:3:17: key_template has an unclosed '{'"}},
        ErrorCase{"TemplateWhereVariantsCollide",
                  kOk + "output:\n  key_template: \"{dir}/{file}/{name}.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template's file name (after the last '/') must "
                   "contain {variant}"}},
        ErrorCase{"TemplateWhereSourcesCollideByExtension",
                  kOk + "output:\n  key_template: \"{dir}/{name}/{variant}.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template's folder must end in {dir}/{file} (the "
                   "source key)"}},
        ErrorCase{"TemplateThatClimbsOutOfTheDestination",
                  kOk + "output:\n  key_template: \"../../{dir}/{file}/{variant}.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template's prefix may not hold an empty, '.' or '..' "
                   "folder"}},
        ErrorCase{"TemplateWithAClimbInsideItsPrefix",
                  kOk + "output:\n  key_template: \"v2/../../{dir}/{file}/{variant}.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template's prefix may not hold"}},
        ErrorCase{"TemplateWithAnAbsolutePath",
                  kOk + "output:\n  key_template: \"/etc/{dir}/{file}/{variant}.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template may not start with '/'"}},
        ErrorCase{"TemplateThatPutsEverySourceInOnePlace",
                  kOk + "output:\n  key_template: \"{variant}.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template's folder must end in {dir}/{file}"}},
        ErrorCase{"TemplateWithAFlatLayout",
                  kOk + "output:\n  key_template: \"{dir}/{file}-{variant}.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template's folder must end in {dir}/{file}"}},
        ErrorCase{"TemplateWithAPlaceholderBeforeTheSource",
                  kOk + "output:\n  key_template: \"{variant}/{dir}/{file}/x.{ext}\"\n",
                  {"imgflow.yaml:3:17: key_template's folder must end in {dir}/{file}"}},
        ErrorCase{"TemplateWithoutAnExtension",
                  kOk + "output:\n  key_template: \"{dir}/{file}/{variant}\"\n",
                  {"imgflow.yaml:3:17: key_template's file name (after the last '/') must "
                   "contain {ext}"}},
        ErrorCase{"ImmutableCacheForKeysThatChange",
                  kOk + "output:\n  cache_control: \"public, max-age=31536000, immutable\"\n",
                  {"imgflow.yaml:3:18: cache_control says immutable, but key_template has no "
                   "{hash}"}},
        ErrorCase{"TabIndentedList",
                  "variants:\n\t- name: a\n\t  width: 10\n",
                  {"imgflow.yaml:2:1: YAML forbids tabs in indentation; allowed: spaces"}},
        ErrorCase{"TabIndentedKey",
                  kOk + "watermark:\n  text: hi\n\tscale: 0.1\n",
                  {"imgflow.yaml:4:1: YAML forbids tabs in indentation"}},
        ErrorCase{"CacheControlHeaderInjection",
                  kOk + "output:\n  cache_control: \"public\\r\\nX-Evil: 1\"\n",
                  {"imgflow.yaml:3:18: cache_control contains a control"}},
        ErrorCase{"SectionNotAMapping",
                  kOk + "metadata: [keep_icc]\n",
                  {"imgflow.yaml:2:1: expected a mapping of keys in metadata, got a list; allowed "
                   "keys: keep_copyright, keep_icc"}},
        ErrorCase{"TopLevelNotAMapping",
                  "- name: a\n",
                  {"imgflow.yaml:1:1: expected a mapping of keys at the top level, got a list"}},
        ErrorCase{"TwoDocuments",
                  kOk + "---\n" + kOk,
                  {"imgflow.yaml:2:1: found a second YAML document; allowed: one"}},
        ErrorCase{"TextOutsideDocument",
                  ", forma\n" + kOk,
                  {"imgflow.yaml:1:1: YAML syntax error: text outside any YAML document"}},
        ErrorCase{"SyntaxError",
                  "variants:\n  - name: a\n    width: [10\n",
                  {"imgflow.yaml:4:1: YAML syntax error: "}},
        ErrorCase{"SyntaxErrorBadIndent",
                  "variants:\n  - name: a\n   width: 10\n",
                  {"imgflow.yaml:3:4: YAML syntax error: "}}),
    [](const ::testing::TestParamInfo<ErrorCase>& param) { return param.param.name; });

TEST(RecipeParse, OversizedRecipeIsTooLarge) {
  const core::Result<Recipe> recipe = parse(std::string((1U << 20U) + 1, '#'));
  ASSERT_FALSE(recipe.has_value());
  EXPECT_EQ(recipe.error().code, ErrorCode::kTooLarge);
}

TEST(RecipeParse, GarbageIsAnErrorNotACrash) {
  for (std::string_view text :
       {std::string_view("\0\0\0", 3), std::string_view("[[[[[[[[[[[[["),
        std::string_view("&a [*a]"), std::string_view("variants: *nope"),
        std::string_view("? [a, b]\n: c\n"), std::string_view("variants:\n  - !!binary AAAA\n"),
        std::string_view("%YAML 9.9\n---\n")}) {
    const core::Result<Recipe> recipe = parse(text);
    EXPECT_FALSE(recipe.has_value()) << text;
    if (!recipe) {
      EXPECT_THAT(recipe.error().message, ::testing::StartsWith("imgflow.yaml:"));
    }
  }
}

// ---- Files: recipe and watermark image paths. ------------------------------------------------

TEST(RecipeFiles, MissingRecipeIsNotFound) {
  const core::Result<Recipe> recipe = load_recipe("/nonexistent/imgflow.yaml");
  ASSERT_FALSE(recipe.has_value());
  EXPECT_EQ(recipe.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(recipe.error().message, HasSubstr("/nonexistent/imgflow.yaml"));
}

TEST(RecipeFiles, WatermarkImageResolvesAgainstTheRecipeDirectory) {
  const TempDir dir;
  write_file(dir.path() / "art" / "mark.png", "PNG-BYTES");
  const fs::path recipe_path = dir.path() / "conf" / "imgflow.yaml";
  write_file(recipe_path, kOk + "watermark:\n  image: ../art/mark.png\n  opacity: 0.5\n");

  const core::Result<Recipe> recipe = load_recipe(recipe_path);
  ASSERT_TRUE(recipe.has_value()) << recipe.error().message;
  EXPECT_EQ(recipe->watermark.kind, Watermark::Kind::kImage);
  EXPECT_EQ(recipe->watermark.image_path, (dir.path() / "art" / "mark.png").lexically_normal());
  EXPECT_EQ(recipe->watermark.image_bytes, "PNG-BYTES");
}

TEST(RecipeFiles, MissingWatermarkImageIsNotFoundWithItsPlace) {
  const TempDir dir;
  const fs::path recipe_path = dir.path() / "imgflow.yaml";
  write_file(recipe_path, kOk + "watermark:\n  image: missing.png\n");
  const core::Result<Recipe> recipe = load_recipe(recipe_path);
  ASSERT_FALSE(recipe.has_value());
  EXPECT_EQ(recipe.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(recipe.error().message,
              HasSubstr(recipe_path.string() + ":3:10: watermark image 'missing.png': "));
  EXPECT_THAT(recipe.error().message, HasSubstr("no such file"));
}

TEST(RecipeFiles, TextOnlyKeysAreRefusedForAnImageMark) {
  const TempDir dir;
  write_file(dir.path() / "mark.png", "x");
  const core::Result<Recipe> recipe =
      parse_recipe(kOk + "watermark:\n  image: mark.png\n  font: Serif\n", dir.path() / "r.yaml");
  ASSERT_FALSE(recipe.has_value());
  EXPECT_THAT(recipe.error().message, HasSubstr("r.yaml:4:3: font applies only to a text "
                                                "watermark; allowed with image: position,"));
}

TEST(RecipeFiles, ImageMarkHashFollowsContentNotPath) {
  const TempDir dir;
  write_file(dir.path() / "a.png", "SAME");
  write_file(dir.path() / "b.png", "SAME");
  write_file(dir.path() / "c.png", "DIFFERENT");
  const auto hash_with = [&](std::string_view image) {
    const core::Result<Recipe> recipe = parse_recipe(
        kOk + "watermark:\n  image: " + std::string(image) + "\n", dir.path() / "r.yaml");
    EXPECT_TRUE(recipe.has_value()) << recipe.error().message;
    return recipe ? recipe->variant_hash(recipe->variants[0]) : "";
  };
  EXPECT_EQ(hash_with("a.png"), hash_with("b.png"));
  EXPECT_NE(hash_with("a.png"), hash_with("c.png"));
}

// ---- Hashes. ---------------------------------------------------------------------------------

constexpr std::string_view kSmall = "variants:\n  - name: a\n    width: 100\n";

TEST(RecipeHash, IsStableForAFixedRecipe) {
  // Changing this value re-makes every stored output: only do it on purpose.
  const Recipe recipe = parse_ok(kSmall);
  // Changed on purpose for v2 (text watermarks gained a halo) and the default key_template
  // "{dir}/{file}/{variant}.{ext}".
  EXPECT_EQ(recipe.variant_hash(recipe.variants[0]),
            "338b363ff1f09938e6e249c41512cc7dee3622c15fa3371dd817956c20200363");
  EXPECT_EQ(recipe.hash(), "b76a92732623f047da945932f473bc72469f66687a33ffb81c264b4e3ea90f62");
  EXPECT_EQ(recipe.hash().size(), 64U);
}

TEST(RecipeHash, ChangesWithOutputAffectingFields) {
  const std::string base = parse_ok(kSmall).hash();
  EXPECT_NE(parse_ok(std::string(kSmall) + "    quality: 81\n").hash(), base);
  EXPECT_NE(parse_ok(std::string(kSmall) + "    format: webp\n").hash(), base);
  EXPECT_NE(parse_ok(std::string(kSmall) + "    height: 100\n").hash(), base);
  EXPECT_NE(parse_ok(std::string(kSmall) + "metadata: {keep_icc: true}\n").hash(), base);
  EXPECT_NE(parse_ok(std::string(kSmall) + "output: {background: black}\n").hash(), base);
  EXPECT_NE(parse_ok(std::string(kSmall) + "output: {auto_alpha: webp}\n").hash(), base);
  EXPECT_NE(parse_ok(std::string(kSmall) +
                     "output: {key_template: \"{dir}/{file}/{variant}-{hash}.{ext}\"}\n")
                .hash(),
            base);
}

TEST(RecipeHash, IgnoresKeyOrderCommentsStyleSpellingAndExplicitDefaults) {
  const std::string base = parse_ok(kSmall).hash();
  EXPECT_EQ(parse_ok("# comment\nvariants:\n  - width: 100  # px\n    name: a\n").hash(), base);
  EXPECT_EQ(parse_ok("variants: [{width: 100, name: a}]").hash(), base);
  EXPECT_EQ(parse_ok(std::string(kSmall) + "    quality: 80\n    fit: inside\n").hash(), base);
  EXPECT_EQ(parse_ok(std::string(kSmall) + "    format: auto\n").hash(), base);
  EXPECT_EQ(parse_ok(std::string(kSmall) + "limits: {max_frames: 1}\n").hash(), base);
  EXPECT_EQ(parse_ok(std::string(kSmall) + "output: {cache_control: private}\n").hash(), base);
  const std::string jpeg = parse_ok(std::string(kSmall) + "    format: jpeg\n").hash();
  EXPECT_EQ(parse_ok(std::string(kSmall) + "    format: jpg\n").hash(), jpeg);
}

TEST(RecipeHash, WatermarkCountsOnlyForWatermarkedVariants) {
  const std::string variants =
      "variants:\n"
      "  - {name: marked, width: 800}\n"
      "  - {name: plain, width: 800, watermark: false}\n";
  const Recipe none = parse_ok(variants);
  const Recipe text = parse_ok(variants + "watermark: {text: hello}\n");
  const Recipe faint = parse_ok(variants + "watermark: {text: hello, opacity: 0.1}\n");

  EXPECT_NE(text.variant_hash(text.variants[0]), none.variant_hash(none.variants[0]));
  EXPECT_NE(text.variant_hash(text.variants[0]), faint.variant_hash(faint.variants[0]));
  EXPECT_EQ(text.variant_hash(text.variants[1]), none.variant_hash(none.variants[1]));
  EXPECT_EQ(text.variant_hash(text.variants[1]), faint.variant_hash(faint.variants[1]));
  // Unmarked, the two variants are identical in bytes: only the name tells them apart.
  EXPECT_EQ(none.variant_hash(none.variants[0]), none.variant_hash(none.variants[1]));
  EXPECT_NE(text.hash(), faint.hash());
}

TEST(RecipeHash, NameChangesTheRecipeHashNotTheVariantHash) {
  const Recipe a = parse_ok(kSmall);
  const Recipe b = parse_ok("variants:\n  - name: b\n    width: 100\n");
  EXPECT_EQ(a.variant_hash(a.variants[0]), b.variant_hash(b.variants[0]));
  EXPECT_NE(a.hash(), b.hash());
}

// ---- largest(). ------------------------------------------------------------------------------

Variant box(std::string name, int width, int height, Fit fit = Fit::kInside) {
  Variant v;
  v.name = std::move(name);
  v.resize.width = width;
  v.resize.height = height;
  v.resize.fit = fit;
  return v;
}

std::string largest_of(std::vector<Variant> variants) {
  Recipe recipe;
  recipe.variants = std::move(variants);
  return recipe.largest().name;
}

TEST(RecipeLargest, PicksTheLongestEdge) {
  EXPECT_EQ(largest_of({box("s", 100, 100), box("l", 1600, 1600), box("m", 800, 800)}), "l");
  EXPECT_EQ(largest_of({box("wide", 1600, 200), box("tall", 300, 1700)}), "tall");
  EXPECT_EQ(largest_of({box("h", 0, 2000), box("l", 1600, 1600)}), "h");
}

TEST(RecipeLargest, AnUnboundedSideOutranksABoundedOne) {
  EXPECT_EQ(largest_of({box("box", 1600, 1600), box("free", 1600, 0)}), "free");
  EXPECT_EQ(largest_of({box("box", 1600, 1600), box("flat", 1600, 900)}), "box");
}

TEST(RecipeLargest, FitsThatReachBothEdgesOutrankInside) {
  EXPECT_EQ(largest_of({box("in", 800, 800), box("cover", 800, 800, Fit::kCover)}), "cover");
  EXPECT_EQ(
      largest_of({box("contain", 800, 800, Fit::kContain), box("fill", 800, 800, Fit::kFill)}),
      "fill");
}

TEST(RecipeLargest, TiesGoToTheEarliestVariant) {
  EXPECT_EQ(largest_of({box("first", 500, 500), box("second", 500, 500)}), "first");
}

TEST(RecipeLargest, DefaultRecipeDecodesForLarge) {
  EXPECT_EQ(default_recipe().largest().name, "large");
}

// ---- Formats. --------------------------------------------------------------------------------

TEST(RecipeFormat, ExtensionsAndMimeTypes) {
  EXPECT_EQ(extension(Format::kJpeg), "jpg");
  EXPECT_EQ(mime_type(Format::kJpeg), "image/jpeg");
  EXPECT_EQ(extension(Format::kPng), "png");
  EXPECT_EQ(mime_type(Format::kPng), "image/png");
  EXPECT_EQ(extension(Format::kWebp), "webp");
  EXPECT_EQ(mime_type(Format::kWebp), "image/webp");
  EXPECT_EQ(extension(Format::kAvif), "avif");
  EXPECT_EQ(mime_type(Format::kAvif), "image/avif");
  EXPECT_EQ(extension(Format::kGif), "gif");
  EXPECT_EQ(mime_type(Format::kGif), "image/gif");
  EXPECT_EQ(extension(Format::kAuto), "");
}

TEST(RecipeFormat, ToStringUsesTheYamlSpelling) {
  EXPECT_EQ(to_string(Fit::kOutside), "outside");
  EXPECT_EQ(to_string(Gravity::kCentre), "centre");
  EXPECT_EQ(to_string(Gravity::kNorthWest), "northwest");
  EXPECT_EQ(to_string(Format::kJpeg), "jpeg");
  EXPECT_EQ(to_string(Position::kBottomRight), "bottom-right");
}

// ---- scan: --------------------------------------------------------------------------------

TEST(RecipeScan, AbsentMeansNoScanning) {
  EXPECT_FALSE(parse_ok(kOk).scan.enabled);
  EXPECT_FALSE(default_recipe().scan.enabled);
}

TEST(RecipeScan, ReadsEveryKey) {
  const Recipe recipe = parse_ok(kOk +
                                 "scan:\n  clamd: tcp://127.0.0.1:3310\n  on_infected: quarantine\n"
                                 "  quarantine_bucket: held.uploads\n  timeout_ms: 5000\n"
                                 "  max_bytes: 200MiB\n");
  const Scan& s = recipe.scan;
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.clamd.to_string(), "tcp://127.0.0.1:3310");
  EXPECT_EQ(s.on_infected, OnInfected::kQuarantine);
  EXPECT_EQ(s.quarantine_bucket, "held.uploads");
  EXPECT_EQ(s.timeout_ms, 5000);
  EXPECT_EQ(s.max_bytes, 200ULL << 20U);
}

TEST(RecipeScan, DefaultsQuarantineAndFollowTheSourceLimit) {
  const Recipe recipe = parse_ok("scan:\n  clamd: unix:/run/clamav/clamd.ctl\n" + kOk +
                                 "limits:\n  max_input_bytes: 8MiB\n");
  const Scan& s = recipe.scan;
  EXPECT_EQ(s.clamd.path, "/run/clamav/clamd.ctl");
  EXPECT_EQ(s.on_infected, OnInfected::kQuarantine);
  EXPECT_EQ(s.quarantine_bucket, "quarantine");
  EXPECT_EQ(s.timeout_ms, 30'000);
  EXPECT_EQ(s.max_bytes, 8ULL << 20U);  // limits.max_input_bytes, though written after scan
}

TEST(RecipeScan, DeleteNeedsNoBucket) {
  const Recipe recipe = parse_ok(kOk + "scan:\n  clamd: unix:/c.ctl\n  on_infected: delete\n");
  EXPECT_EQ(recipe.scan.on_infected, OnInfected::kDelete);
  EXPECT_EQ(to_string(recipe.scan.on_infected), "delete");
}

TEST(RecipeScan, DoesNotChangeTheHash) {
  // Scanning changes no output byte: adding it must not re-make every output.
  EXPECT_EQ(parse_ok(kOk).hash(), parse_ok(kOk + "scan:\n  clamd: unix:/c.ctl\n").hash());
}

INSTANTIATE_TEST_SUITE_P(
    Scan, RecipeErrorTest,
    ::testing::Values(
        ErrorCase{"ScanWithoutClamd",
                  kOk + "scan:\n  on_infected: delete\n",
                  {"imgflow.yaml:2:1: scan needs clamd; allowed: clamd: unix:"}},
        ErrorCase{"EmptyScan", kOk + "scan:\n", {"scan needs clamd"}},
        ErrorCase{"ScanNotAMapping",
                  kOk + "scan: unix:/c.ctl\n",
                  {"expected a mapping of keys in scan", "allowed keys: clamd, on_infected,"}},
        ErrorCase{"UnknownScanKey",
                  kOk + "scan:\n  clamd: unix:/c.ctl\n  timeout: 5\n",
                  {"imgflow.yaml:4:3: unknown key 'timeout' in scan; allowed: clamd, "
                   "on_infected, quarantine_bucket, timeout_ms, max_bytes"}},
        ErrorCase{"ClamdGarbage",
                  kOk + "scan:\n  clamd: clamd.ctl\n",
                  {"imgflow.yaml:3:10: clamd address: \"clamd.ctl\" has no known scheme"}},
        ErrorCase{"ClamdBadPort",
                  kOk + "scan:\n  clamd: tcp://localhost:99999\n",
                  {"imgflow.yaml:3:10: clamd address: the port must be a number from 1 to 65535"}},
        ErrorCase{"ClamdNotAScalar",
                  kOk + "scan:\n  clamd: [a]\n",
                  {"clamd: expected unix:/path/to/clamd.ctl or tcp://HOST:PORT"}},
        ErrorCase{"UnknownOnInfected",
                  kOk + "scan:\n  clamd: unix:/c.ctl\n  on_infected: ignore\n",
                  {"unknown on_infected 'ignore'; allowed: quarantine, delete"}},
        ErrorCase{"BadQuarantineBucket",
                  kOk + "scan:\n  clamd: unix:/c.ctl\n  quarantine_bucket: Bad_Name\n",
                  {"quarantine_bucket 'Bad_Name' is not a bucket name"}},
        ErrorCase{"QuarantineBucketWithDelete",
                  kOk + "scan:\n  clamd: unix:/c.ctl\n  on_infected: delete\n"
                        "  quarantine_bucket: q-bucket\n",
                  {"imgflow.yaml:5:3: quarantine_bucket applies only to on_infected: quarantine"}},
        ErrorCase{"ScanTimeoutOutOfRange",
                  kOk + "scan:\n  clamd: unix:/c.ctl\n  timeout_ms: 0\n",
                  {"timeout_ms 0 out of range; allowed: 1..600000"}},
        ErrorCase{"ScanMaxBytesBelowSourceLimit",
                  kOk + "scan:\n  clamd: unix:/c.ctl\n  max_bytes: 1MiB\n",
                  {"imgflow.yaml:2:1: scan.max_bytes (1048576) is below limits.max_input_bytes "
                   "(52428800)"}}));

TEST(RecipeNotify, ReadsWebhooksWithDefaults) {
  const Recipe recipe = parse_ok(kOk +
                                 "notify:\n  webhooks:\n"
                                 "    - url: https://app.example/hooks/imgflow?x=1\n"
                                 "      secret_env: APP_HOOK_SECRET\n"
                                 "    - url: http://127.0.0.1:8080/failures\n"
                                 "      secret_env: OPS_SECRET\n"
                                 "      events: [failed, quarantined, failed]\n"
                                 "  max_attempts: 5\n  timeout_ms: 2000\n");
  const Notify& n = recipe.notify;
  ASSERT_EQ(n.webhooks.size(), 2U);
  EXPECT_TRUE(n.enabled());
  EXPECT_EQ(n.webhooks[0].url, "https://app.example/hooks/imgflow?x=1");
  EXPECT_EQ(n.webhooks[0].secret_env, "APP_HOOK_SECRET");
  EXPECT_EQ(n.webhooks[0].events.size(), 3U);  // every event by default
  EXPECT_EQ(n.webhooks[1].events,
            (std::vector<NotifyEvent>{NotifyEvent::kFailed, NotifyEvent::kQuarantined}));
  EXPECT_FALSE(n.webhooks[1].wants(NotifyEvent::kProcessed));
  EXPECT_TRUE(n.wants(NotifyEvent::kProcessed));
  EXPECT_EQ(n.max_attempts, 5);
  EXPECT_EQ(n.timeout_ms, 2000);
  EXPECT_EQ(to_string(NotifyEvent::kQuarantined), "quarantined");
}

TEST(RecipeNotify, TheExampleSectionUncommentedStatesTheDefaults) {
  std::ifstream in(kExamplePath);
  std::string line;
  std::string section;
  bool inside = false;
  while (std::getline(in, line)) {
    inside = inside || line == "# notify:";
    if (inside && line.starts_with("# ")) section += line.substr(2) + "\n";
  }
  ASSERT_FALSE(section.empty()) << "imgflow.example.yaml has no commented notify: section";
  const Recipe recipe = parse_ok(kOk + section);
  const Notify defaults;
  ASSERT_EQ(recipe.notify.webhooks.size(), 1U);
  EXPECT_EQ(recipe.notify.webhooks[0].events.size(), 3U);
  EXPECT_EQ(recipe.notify.max_attempts, defaults.max_attempts);
  EXPECT_EQ(recipe.notify.timeout_ms, defaults.timeout_ms);
}

TEST(RecipeNotify, AbsentMeansNoNotificationsAndNoHashChange) {
  const Recipe plain = parse_ok(kOk);
  EXPECT_FALSE(plain.notify.enabled());
  EXPECT_FALSE(plain.notify.wants(NotifyEvent::kFailed));
  const Recipe notifying = parse_ok(kOk +
                                    "notify:\n  webhooks:\n    - url: http://h/\n"
                                    "      secret_env: S\n");
  EXPECT_EQ(plain.hash(), notifying.hash());
}

INSTANTIATE_TEST_SUITE_P(
    Notify, RecipeErrorTest,
    ::testing::Values(
        ErrorCase{"NotifyWithoutWebhooks",
                  kOk + "notify:\n  max_attempts: 3\n",
                  {"imgflow.yaml:2:1: notify needs webhooks"}},
        ErrorCase{"WebhooksEmpty",
                  kOk + "notify:\n  webhooks: []\n",
                  {"webhooks: expected a list of 1..8 webhooks, got 0 entries"}},
        ErrorCase{"WebhookWithoutSecret",
                  kOk + "notify:\n  webhooks:\n    - url: https://h/x\n",
                  {"imgflow.yaml:4:7: webhook #1 has no secret_env"}},
        ErrorCase{"WebhookNotHttp",
                  kOk + "notify:\n  webhooks:\n    - url: ftp://h/x\n      secret_env: S\n",
                  {"imgflow.yaml:4:12: url 'ftp://h/x' is not an http:// or https:// URL"}},
        ErrorCase{"WebhookWithCredentials",
                  kOk + "notify:\n  webhooks:\n    - url: https://u:p@h/x\n      secret_env: S\n",
                  {"carries credentials"}},
        ErrorCase{"WebhookWithoutHost",
                  kOk + "notify:\n  webhooks:\n    - url: http:///x\n      secret_env: S\n",
                  {"has no host"}},
        ErrorCase{"WebhookSecretIsNotAName",
                  kOk + "notify:\n  webhooks:\n    - url: http://h/\n      secret_env: s3cr3t!\n",
                  {"secret_env 's3cr3t!' is not an environment variable name"}},
        ErrorCase{"UnknownNotifyEvent",
                  kOk + "notify:\n  webhooks:\n    - url: http://h/\n      secret_env: S\n"
                        "      events: [processed, deleted]\n",
                  {"imgflow.yaml:6:27: unknown event 'deleted'; allowed: processed, failed, "
                   "quarantined"}},
        ErrorCase{"UnknownWebhookKey",
                  kOk + "notify:\n  webhooks:\n    - url: http://h/\n      secret: x\n",
                  {"unknown key 'secret' in webhook #1; allowed: url, secret_env, events"}},
        ErrorCase{"NotifyAttemptsOutOfRange",
                  kOk + "notify:\n  webhooks:\n    - url: http://h/\n      secret_env: S\n"
                        "  max_attempts: 0\n",
                  {"max_attempts 0 out of range; allowed: 1..100"}}));

}  // namespace
}  // namespace imgflow::recipe
