#include "function/render_plan.h"

#include <gtest/gtest.h>

namespace imgflow::function {
namespace {

using Strings = std::vector<std::string>;

recipe::Variant variant(std::string name, int width, recipe::Format format) {
  recipe::Variant v;
  v.name = std::move(name);
  v.resize.width = width;
  v.encode.format = format;
  return v;
}

recipe::Recipe two_variants() {
  recipe::Recipe r;
  r.variants = {variant("large", 1600, recipe::Format::kJpeg),
                variant("thumb", 200, recipe::Format::kWebp)};
  return r;
}

// The manifest `recipe` would have written for photos/cat.jpg at ETag "abc".
Manifest manifest_of(const recipe::Recipe& recipe) {
  const RenderPlanner planner(recipe, "");
  const OutputLayout layout = planner.layout("photos/cat.jpg");
  Manifest m;
  m.source.key = "photos/cat.jpg";
  m.source.etag = "abc";
  m.recipe_hash = planner.recipe_hash();
  for (std::size_t i = 0; i < recipe.variants.size(); ++i) {
    ManifestVariant v;
    v.name = recipe.variants[i].name;
    v.format = std::string(recipe::to_string(recipe.variants[i].encode.format));
    v.sha256 = std::string(64, static_cast<char>('a' + i));
    v.key = layout.variant_key(v.name, recipe::extension(recipe.variants[i].encode.format),
                               v.sha256);
    v.recipe_hash = planner.variant_hashes()[i];
    m.variants.push_back(v);
  }
  return m;
}

TEST(RenderPlan, NoManifestMakesEverything) {
  const RenderPlan plan = RenderPlanner(two_variants(), "").plan(std::nullopt, "a.jpg", "abc");
  EXPECT_EQ(plan.kind, RenderPlan::Kind::kWhole);
  EXPECT_EQ(plan.reason, "no manifest");
  EXPECT_EQ(plan.added, (Strings{"large", "thumb"}));
  EXPECT_TRUE(plan.kept.empty());
}

TEST(RenderPlan, TheSameRecipeAndETagIsCurrentQuotedOrNot) {
  const recipe::Recipe recipe = two_variants();
  const RenderPlan plan =
      RenderPlanner(recipe, "").plan(manifest_of(recipe), "photos/cat.jpg", "\"abc\"");
  EXPECT_EQ(plan.kind, RenderPlan::Kind::kCurrent);
  EXPECT_EQ(plan.kept, (Strings{"large", "thumb"}));
}

TEST(RenderPlan, AnotherVersionOfTheSourceOrAnotherSourceMakesEverything) {
  const recipe::Recipe recipe = two_variants();
  const RenderPlanner planner(recipe, "");
  const RenderPlan newer = planner.plan(manifest_of(recipe), "photos/cat.jpg", "def");
  EXPECT_EQ(newer.kind, RenderPlan::Kind::kWhole);
  EXPECT_EQ(newer.reason, "the manifest is of another version of the source");
  const RenderPlan other = planner.plan(manifest_of(recipe), "photos/dog.jpg", "abc");
  EXPECT_EQ(other.kind, RenderPlan::Kind::kWhole);
  EXPECT_EQ(other.reason, "the manifest is of photos/cat.jpg");
}

TEST(RenderPlan, OnlyTheVariantsAChangeAffects) {
  const Manifest previous = manifest_of(two_variants());
  recipe::Recipe next = two_variants();
  next.variants[1].encode.quality = 60;                                  // thumb changed
  next.variants.push_back(variant("avif", 800, recipe::Format::kAvif));  // added
  const RenderPlan plan = RenderPlanner(next, "").plan(previous, "photos/cat.jpg", "abc");
  EXPECT_EQ(plan.kind, RenderPlan::Kind::kPartial);
  EXPECT_EQ(plan.kept, Strings{"large"});
  EXPECT_EQ(plan.changed, Strings{"thumb"});
  EXPECT_EQ(plan.added, Strings{"avif"});
  EXPECT_TRUE(plan.removed.empty());
  EXPECT_TRUE(plan.keeps("large"));
  EXPECT_FALSE(plan.keeps("thumb"));
}

TEST(RenderPlan, ADroppedVariantIsRemovedAndARenamedOneMadeAnew) {
  const Manifest previous = manifest_of(two_variants());
  recipe::Recipe next = two_variants();
  next.variants[1].name = "small";  // same settings, another name: another key
  const RenderPlan plan = RenderPlanner(next, "").plan(previous, "photos/cat.jpg", "abc");
  EXPECT_EQ(plan.kept, Strings{"large"});
  EXPECT_EQ(plan.added, Strings{"small"});
  EXPECT_EQ(plan.removed, Strings{"thumb"});
}

TEST(RenderPlan, AChangeThatMovesEveryKeyKeepsNothing) {
  const Manifest previous = manifest_of(two_variants());
  recipe::Recipe next = two_variants();
  next.output.key_template = "{dir}/{file}/{variant}-{hash}.{ext}";
  const RenderPlan moved = RenderPlanner(next, "").plan(previous, "photos/cat.jpg", "abc");
  EXPECT_TRUE(moved.kept.empty());
  EXPECT_EQ(moved.changed, (Strings{"large", "thumb"}));

  // A global setting every variant hashes (the background) changes them all too.
  recipe::Recipe background = two_variants();
  background.output.background = {0, 0, 0};
  const RenderPlan all = RenderPlanner(background, "").plan(previous, "photos/cat.jpg", "abc");
  EXPECT_EQ(all.changed, (Strings{"large", "thumb"}));
}

TEST(RenderPlan, TheDestinationPrefixIsPartOfEveryKey) {
  const recipe::Recipe recipe = two_variants();
  const RenderPlanner prefixed(recipe, "out");
  EXPECT_EQ(prefixed.layout("a b/c.jpg").manifest_key(), "out/a b/c.jpg/manifest.json");
  recipe::Recipe next = two_variants();
  next.variants[1].encode.quality = 60;
  // The manifest was written without the prefix: its keys are not where this layout puts them.
  const RenderPlan plan = RenderPlanner(next, "out").plan(manifest_of(recipe), "photos/cat.jpg",
                                                          "abc");
  EXPECT_TRUE(plan.kept.empty());
}

}  // namespace
}  // namespace imgflow::function
