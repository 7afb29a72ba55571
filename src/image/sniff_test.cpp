#include <gtest/gtest.h>

#include <string>

#include "image/image.h"

namespace imgflow::image {
namespace {

using core::ErrorCode;
using std::string_literals::operator""s;

TEST(Sniff, RecognisesEachAcceptedFormatByMagicBytes) {
  EXPECT_EQ(sniff("\xFF\xD8\xFF\xE0rest"s).value(), SourceFormat::kJpeg);
  EXPECT_EQ(sniff("\x89PNG\r\n\x1A\n...."s).value(), SourceFormat::kPng);
  EXPECT_EQ(sniff("GIF89a...."s).value(), SourceFormat::kGif);
  EXPECT_EQ(sniff("GIF87a...."s).value(), SourceFormat::kGif);
  EXPECT_EQ(sniff("RIFF\x10\0\0\0WEBPVP8 "s).value(), SourceFormat::kWebp);
  EXPECT_EQ(sniff("II*\0\x08\0\0\0"s).value(), SourceFormat::kTiff);
  EXPECT_EQ(sniff("MM\0*\0\0\0\x08"s).value(), SourceFormat::kTiff);
  EXPECT_EQ(sniff("\0\0\0\x1C"
                  "ftypavif\0\0\0\0avifmif1"s)
                .value(),
            SourceFormat::kAvif);
  EXPECT_EQ(sniff("\0\0\0\x18"
                  "ftypheic\0\0\0\0mif1heic"s)
                .value(),
            SourceFormat::kHeif);
  // AVIF announced only as a compatible brand.
  EXPECT_EQ(sniff("\0\0\0\x1C"
                  "ftypmif1\0\0\0\0mif1avif"s)
                .value(),
            SourceFormat::kAvif);
}

TEST(Sniff, RefusesOtherFormatsNamingWhatTheyLookLike) {
  struct Case {
    std::string bytes;
    std::string named;
  };
  const Case cases[] = {
      {"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "SVG"},
      {"  <?xml version=\"1.0\"?><svg/>", "SVG"},
      {"%PDF-1.7\n", "PDF"},
      {"8BPS\0\1"s, "PSD"},
      {"push graphic-context\nviewbox 0 0 1 1", "MVG"},
      {"hello, this is just text\n", "text"},
      {"BM\x36\0\0\0"s, "BMP"},
  };
  for (const Case& c : cases) {
    auto result = sniff(c.bytes);
    ASSERT_FALSE(result.has_value()) << c.named;
    EXPECT_EQ(result.error().code, ErrorCode::kUnsupported) << c.named;
    EXPECT_NE(result.error().message.find(c.named), std::string::npos) << result.error().message;
  }
}

TEST(Sniff, EmptyAndTinyInputsAreCorrupt) {
  EXPECT_EQ(sniff("").error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(sniff("ab").error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(sniff("\0\0\0\x18"
                  "ftyp"s)
                .error()
                .code,
            ErrorCode::kCorrupt);
}

TEST(Sniff, IsoMediaWithForeignBrandIsUnsupported) {
  auto result = sniff(
      "\0\0\0\x18"
      "ftypisom\0\0\0\0isomavc1"s);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(result.error().message.find("isom"), std::string::npos);
}

}  // namespace
}  // namespace imgflow::image
