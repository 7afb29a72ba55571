#include "function/manifest.h"

#include <gtest/gtest.h>

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

TEST(Manifest, GarbageIsCorrupt) {
  EXPECT_EQ(parse_manifest("{").error().code, core::ErrorCode::kCorrupt);
  EXPECT_EQ(parse_manifest("{\"version\":1}").error().code, core::ErrorCode::kCorrupt);
  EXPECT_EQ(parse_manifest("[1,2]").error().code, core::ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace imgflow::function
