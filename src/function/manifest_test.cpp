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

ManifestVariant variant(std::string name, std::string format, int width) {
  ManifestVariant v;
  v.key = "summer trip/cat.jpg/" + name + "." + format;
  v.name = std::move(name);
  v.content_type = "image/" + format;
  v.format = std::move(format);
  v.width = width;
  return v;
}

TEST(Manifest, FormatsAreGroupedBestFirstWithASrcsetEach) {
  const std::vector<ManifestVariant> variants = {
      variant("large", "jpeg", 1600), variant("thumb", "jpeg", 200),
      variant("large", "webp", 1600), variant("medium", "webp", 800),
      variant("square", "webp", 800),  // the same width as medium: once in the srcset
      variant("large", "avif", 1600)};
  const std::vector<ManifestFormat> formats = formats_of(variants);
  ASSERT_EQ(formats.size(), 3U);
  EXPECT_EQ(formats[0].format, "avif");
  EXPECT_EQ(formats[1].format, "webp");
  EXPECT_EQ(formats[2].format, "jpeg");  // the <img> fallback, last
  EXPECT_EQ(formats[1].content_type, "image/webp");
  EXPECT_EQ(formats[1].srcset,
            "summer%20trip/cat.jpg/medium.webp 800w, summer%20trip/cat.jpg/large.webp 1600w");
  EXPECT_EQ(formats[1].variants, (std::vector<std::string>{"medium", "square", "large"}));
  EXPECT_EQ(formats[2].srcset,
            "summer%20trip/cat.jpg/thumb.jpeg 200w, summer%20trip/cat.jpg/large.jpeg 1600w");

  Manifest m;
  m.variants = variants;
  m.dominant_color = "#336699";
  const auto j = nlohmann::json::parse(to_json(m));
  EXPECT_EQ(j["dominant_color"], "#336699");
  ASSERT_EQ(j["formats"].size(), 3U);
  EXPECT_EQ(j["formats"][0]["srcset"], "summer%20trip/cat.jpg/large.avif 1600w");
  EXPECT_EQ(parse_manifest(to_json(m))->dominant_color, "#336699");
}

TEST(Manifest, GarbageIsCorrupt) {
  EXPECT_EQ(parse_manifest("{").error().code, core::ErrorCode::kCorrupt);
  EXPECT_EQ(parse_manifest("{\"version\":1}").error().code, core::ErrorCode::kCorrupt);
  EXPECT_EQ(parse_manifest("[1,2]").error().code, core::ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace imgflow::function
