#include "core/image_types.h"

#include <gtest/gtest.h>

namespace imgflow::core {
namespace {

TEST(ImageTypes, ListsEveryFormatTheEngineDecodes) {
  for (std::string_view subtype :
       {"jpeg", "png", "webp", "gif", "tiff", "heic", "heif", "avif", "jpg", "pjpeg"}) {
    EXPECT_TRUE(find_image_media_type(subtype)) << subtype;
  }
  EXPECT_EQ(find_image_media_type("JPEG")->extension, "jpg");
  EXPECT_EQ(find_image_media_type("heic-sequence")->extension, "heic");
  for (std::string_view subtype : {"svg+xml", "x-icon", "bmp", "", "jpeg "}) {
    EXPECT_FALSE(find_image_media_type(subtype)) << subtype;
  }
}

TEST(ImageTypes, FileExtensionsAreSpelledOneWay) {
  EXPECT_EQ(canonical_image_extension("JPEG"), "jpg");
  EXPECT_EQ(canonical_image_extension("jpe"), "jpg");
  EXPECT_EQ(canonical_image_extension("tif"), "tiff");
  EXPECT_EQ(canonical_image_extension("avif"), "avif");
  EXPECT_FALSE(canonical_image_extension("svg"));
  EXPECT_FALSE(canonical_image_extension(""));
}

}  // namespace
}  // namespace imgflow::core
