#include "function/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace imgflow::function {
namespace {

TEST(Manifest, RoundTripsThroughJson) {
  Manifest m;
  m.source = {"photos/cat.jpg", 1234, "abcd", "\"etag\"", "jpeg", 640, 480, 1};
  m.recipe_hash = "r1";
  m.placeholder = "data:image/webp;base64,AAAA";
  m.generator = "imgflow test";
  ManifestVariant v;
  v.name = "large";
  v.key = "photos/cat/large.jpg";
  v.format = "jpeg";
  v.content_type = "image/jpeg";
  v.width = 600;
  v.height = 450;
  v.bytes = 999;
  v.sha256 = "ff";
  v.watermarked = true;
  v.recipe_hash = "v1";
  m.variants.push_back(v);
  const std::string json = to_json(m);
  auto parsed = parse_manifest(json);
  ASSERT_TRUE(parsed) << parsed.error().to_string();
  EXPECT_EQ(to_json(*parsed), json);
  EXPECT_EQ(parsed->variants.at(0).width, 600);
  EXPECT_EQ(parsed->source.etag, "\"etag\"");
}

// A 4:3 variant unless told otherwise.
ManifestVariant variant(std::string name, std::string format, int width, int height = -1) {
  ManifestVariant v;
  v.height = height >= 0 ? height : width * 3 / 4;
  v.key = "summer trip/cat.jpg/" + name + "." + format;
  v.name = std::move(name);
  v.content_type = "image/" + format;
  v.format = std::move(format);
  v.width = width;
  return v;
}

TEST(Manifest, FormatsAreGroupedBestFirstWithASrcsetEach) {
  const std::vector<ManifestVariant> variants =
      {variant("large", "jpeg", 1600), variant("thumb", "jpeg", 200),
       variant("large", "webp", 1600), variant("medium", "webp", 800),
       variant("sharp", "webp", 800),  // the same width as medium: once in the srcset
       variant("large", "avif", 1600)};
  const ManifestSource source{"summer trip/cat.jpg", 1, "", "", "jpeg", 4000, 3000, 1};
  const std::vector<ManifestFormat> formats = formats_of(source, variants);
  ASSERT_EQ(formats.size(), 3U);
  EXPECT_EQ(formats[0].format, "avif");
  EXPECT_EQ(formats[1].format, "webp");
  EXPECT_EQ(formats[2].format, "jpeg");  // the <img> fallback, last
  EXPECT_EQ(formats[1].content_type, "image/webp");
  EXPECT_EQ(formats[1].srcset,
            "summer%20trip/cat.jpg/medium.webp 800w, summer%20trip/cat.jpg/large.webp 1600w");
  EXPECT_EQ(formats[1].variants, (std::vector<std::string>{"medium", "sharp", "large"}));
  EXPECT_EQ(formats[2].srcset,
            "summer%20trip/cat.jpg/thumb.jpeg 200w, summer%20trip/cat.jpg/large.jpeg 1600w");

  Manifest m;
  m.source = source;
  m.variants = variants;
  m.dominant_color = "#336699";
  const auto j = nlohmann::json::parse(to_json(m));
  EXPECT_EQ(j["dominant_color"], "#336699");
  ASSERT_EQ(j["formats"].size(), 3U);
  EXPECT_EQ(j["formats"][0]["srcset"], "summer%20trip/cat.jpg/large.avif 1600w");
  EXPECT_EQ(parse_manifest(to_json(m))->dominant_color, "#336699");
}

TEST(Manifest, ACroppedVariantIsAnotherPictureAndStaysOutOfTheSrcsets) {
  const ManifestSource landscape{"cat.jpg", 1, "", "", "jpeg", 1000, 667, 1};
  const std::vector<ManifestVariant> variants = {
      variant("large", "jpeg", 800, 534),  // 800 x 533.6: rounded, still the whole picture
      variant("medium", "jpeg", 400, 267),
      variant("thumb", "webp", 200, 200)};  // fit: cover, a square crop
  const auto formats = formats_of(landscape, variants);
  ASSERT_EQ(formats.size(), 1U);  // no WebP group: a browser would take it at every width
  EXPECT_EQ(formats[0].variants, (std::vector<std::string>{"medium", "large"}));

  // Only crops: the largest one's proportions.
  const std::vector<ManifestVariant> squares = {variant("a", "webp", 400, 400),
                                                variant("b", "webp", 200, 200),
                                                variant("wide", "jpeg", 300, 100)};
  const auto square_formats = formats_of(landscape, squares);
  ASSERT_EQ(square_formats.size(), 1U);
  EXPECT_EQ(square_formats[0].variants, (std::vector<std::string>{"b", "a"}));
}

TEST(Manifest, GarbageIsCorrupt) {
  EXPECT_EQ(parse_manifest("{").error().code, core::ErrorCode::kCorrupt);
  EXPECT_EQ(parse_manifest("{\"version\":1}").error().code, core::ErrorCode::kCorrupt);
  EXPECT_EQ(parse_manifest("[1,2]").error().code, core::ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace imgflow::function
