#include "image/geometry.h"

#include <gtest/gtest.h>

namespace imgflow::image {
namespace {

using recipe::Fit;
using recipe::Gravity;
using recipe::Position;

recipe::Resize box(int w, int h, Fit fit, bool upscale = false) {
  recipe::Resize r;
  r.width = w;
  r.height = h;
  r.fit = fit;
  r.upscale = upscale;
  return r;
}

TEST(PlanVariant, InsideKeepsAspectWithinTheBox) {
  const auto plan = plan_variant(box(1600, 1600, Fit::kInside), {2560, 1600});
  EXPECT_EQ(plan.resized, (Size{1600, 1000}));
  EXPECT_EQ(plan.canvas, plan.resized);
}

TEST(PlanVariant, InsideNeverUpscalesByDefault) {
  EXPECT_EQ(plan_variant(box(1600, 1600, Fit::kInside), {640, 480}).resized, (Size{640, 480}));
  EXPECT_EQ(plan_variant(box(1600, 1600, Fit::kInside, true), {640, 480}).resized,
            (Size{1600, 1200}));
}

TEST(PlanVariant, ZeroSideIsDerivedFromAspect) {
  EXPECT_EQ(plan_variant(box(800, 0, Fit::kInside), {4000, 3000}).resized, (Size{800, 600}));
  EXPECT_EQ(plan_variant(box(0, 300, Fit::kInside), {4000, 3000}).resized, (Size{400, 300}));
}

TEST(PlanVariant, CoverFillsTheBoxThenCrops) {
  const auto plan = plan_variant(box(200, 200, Fit::kCover), {2560, 1600});
  EXPECT_EQ(plan.resized, (Size{320, 200}));
  EXPECT_EQ(plan.canvas, (Size{200, 200}));
}

// Without upscale a small source keeps its pixels but still takes the box's shape.
TEST(PlanVariant, CoverOfSmallSourceCropsToTheBoxShapeWithoutEnlarging) {
  const auto tall = plan_variant(box(200, 200, Fit::kCover), {150, 300});
  EXPECT_EQ(tall.resized, (Size{150, 300}));
  EXPECT_EQ(tall.canvas, (Size{150, 150}));
  const auto small = plan_variant(box(200, 200, Fit::kCover), {160, 120});
  EXPECT_EQ(small.resized, (Size{160, 120}));
  EXPECT_EQ(small.canvas, (Size{120, 120}));
  const auto wide_box = plan_variant(box(300, 200, Fit::kCover), {150, 300});
  EXPECT_EQ(wide_box.canvas, (Size{150, 100}));
  const auto one_side = plan_variant(box(200, 200, Fit::kCover), {1000, 150});  // short height
  EXPECT_EQ(one_side.resized, (Size{1000, 150}));
  EXPECT_EQ(one_side.canvas, (Size{150, 150}));
}

TEST(PlanVariant, ContainPadsToTheExactBox) {
  const auto plan = plan_variant(box(300, 300, Fit::kContain), {600, 300});
  EXPECT_EQ(plan.resized, (Size{300, 150}));
  EXPECT_EQ(plan.canvas, (Size{300, 300}));
}

TEST(PlanVariant, FillIgnoresAspect) {
  EXPECT_EQ(plan_variant(box(100, 300, Fit::kFill), {600, 400}).resized, (Size{100, 300}));
}

TEST(PlanVariant, OutsideCoversWithoutCrop) {
  const auto plan = plan_variant(box(200, 200, Fit::kOutside), {400, 300});
  EXPECT_EQ(plan.resized, (Size{267, 200}));
  EXPECT_EQ(plan.canvas, plan.resized);
}

TEST(CropOrigin, FollowsGravity) {
  const Size image{300, 200};
  const Size crop{100, 100};
  EXPECT_EQ(crop_origin(Gravity::kCentre, image, crop), std::make_pair(100, 50));
  EXPECT_EQ(crop_origin(Gravity::kNorthWest, image, crop), std::make_pair(0, 0));
  EXPECT_EQ(crop_origin(Gravity::kSouthEast, image, crop), std::make_pair(200, 100));
  EXPECT_EQ(crop_origin(Gravity::kNorth, image, crop), std::make_pair(100, 0));
  EXPECT_EQ(crop_origin(Gravity::kWest, image, crop), std::make_pair(0, 50));
}

TEST(MarkOrigin, NinePositionsRespectTheMargin) {
  const Size canvas{1000, 500};
  const Size mark{100, 50};
  EXPECT_EQ(mark_origin(Position::kTopLeft, canvas, mark, 10), std::make_pair(10, 10));
  EXPECT_EQ(mark_origin(Position::kBottomRight, canvas, mark, 10), std::make_pair(890, 440));
  EXPECT_EQ(mark_origin(Position::kCentre, canvas, mark, 10), std::make_pair(450, 225));
  EXPECT_EQ(mark_origin(Position::kTop, canvas, mark, 10), std::make_pair(450, 10));
  EXPECT_EQ(mark_origin(Position::kLeft, canvas, mark, 10), std::make_pair(10, 225));
  EXPECT_EQ(mark_origin(Position::kBottomLeft, canvas, mark, 10), std::make_pair(10, 440));
}

TEST(NeededScale, IsTheLargestDemandCappedAtOne) {
  const Size source{2560, 1600};
  std::vector<VariantPlan> plans = {plan_variant(box(1600, 1600, Fit::kInside), source),
                                    plan_variant(box(800, 800, Fit::kInside), source),
                                    plan_variant(box(200, 200, Fit::kCover), source)};
  EXPECT_DOUBLE_EQ(needed_scale(plans, source), 0.625);
  plans.push_back(plan_variant(box(5000, 5000, Fit::kInside, true), source));
  EXPECT_DOUBLE_EQ(needed_scale(plans, source), 1.0);
}

}  // namespace
}  // namespace imgflow::image
