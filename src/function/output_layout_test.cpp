#include "function/output_layout.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace imgflow::function {
namespace {

constexpr std::string_view kDefault = "{dir}/{file}/{variant}.{ext}";
const std::string kSha(64, 'a');

TEST(OutputLayout, TheDefaultPutsOutputsInAFolderNamedAfterTheSourceKey) {
  const OutputLayout layout(kDefault, "", "a/b/photo.final.jpg");
  EXPECT_EQ(layout.variant_key("large", "jpg", kSha), "a/b/photo.final.jpg/large.jpg");
  EXPECT_EQ(layout.manifest_key(), "a/b/photo.final.jpg/manifest.json");
  const OutputLayout root(kDefault, "", "photo.jpg");
  EXPECT_EQ(root.variant_key("thumb", "webp", kSha), "photo.jpg/thumb.webp");
  EXPECT_EQ(root.manifest_key(), "photo.jpg/manifest.json");
}

TEST(OutputLayout, SourcesThatDifferOnlyInExtensionNeverShareAKey) {
  std::set<std::string> keys;
  for (const char* source : {"IMG_0001.HEIC", "IMG_0001.JPG", "IMG_0001", "IMG_0001.jpg"}) {
    const OutputLayout layout(kDefault, "", source);
    for (const char* variant : {"large", "thumb"}) {
      EXPECT_TRUE(keys.insert(layout.variant_key(variant, "jpg", kSha)).second) << source;
    }
    EXPECT_TRUE(keys.insert(layout.manifest_key()).second) << source;
  }
}

TEST(OutputLayout, EmptySegmentsInTheKeyAreKeptSoTheyStayDistinct) {
  EXPECT_EQ(OutputLayout(kDefault, "", "/x.jpg").manifest_key(), "/x.jpg/manifest.json");
  EXPECT_EQ(OutputLayout(kDefault, "", "a//b.jpg").manifest_key(), "a//b.jpg/manifest.json");
  EXPECT_NE(OutputLayout(kDefault, "", "a//b.jpg").manifest_key(),
            OutputLayout(kDefault, "", "a/b.jpg").manifest_key());
}

TEST(OutputLayout, ThePrefixIsJoinedWithOneSlash) {
  EXPECT_EQ(OutputLayout(kDefault, "out", "p.png").manifest_key(), "out/p.png/manifest.json");
  EXPECT_EQ(OutputLayout(kDefault, "out/", "d/p.png").variant_key("m", "png", kSha),
            "out/d/p.png/m.png");
}

TEST(OutputLayout, OtherPlaceholdersAndAFixedPrefix) {
  const std::string sha = "0123456789abcdef" + std::string(48, 'f');
  const OutputLayout layout("v2/{dir}/{file}/{name}-{variant}-{hash}.{ext}", "", "a/cat.png");
  EXPECT_EQ(layout.variant_key("large", "webp", sha),
            "v2/a/cat.png/cat-large-0123456789abcdef.webp");
  EXPECT_EQ(layout.manifest_key(), "v2/a/cat.png/manifest.json");
  EXPECT_EQ(OutputLayout("v2/{dir}/{file}/{name}.{variant}.{ext}", "", ".hidden")
                .variant_key("m", "jpg", sha),
            "v2/.hidden/.hidden.m.jpg");
}

}  // namespace
}  // namespace imgflow::function
