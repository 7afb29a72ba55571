#include "core/codec.h"

#include <gtest/gtest.h>

#include "core/digest.h"

namespace imgflow::core {
namespace {

TEST(Codec, Hex) {
  EXPECT_EQ(to_hex(std::string("\x00\x7f\xff", 3)), "007fff");
  EXPECT_EQ(from_hex("007FfF"), std::string("\x00\x7f\xff", 3));
  EXPECT_FALSE(from_hex("abc"));  // odd length
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_EQ(from_hex(""), "");
  EXPECT_EQ(hex_digit_value('F'), 15);
  EXPECT_EQ(hex_digit_value('g'), -1);
  EXPECT_TRUE(is_lower_hex("0af9", 4));
  EXPECT_FALSE(is_lower_hex("0AF9"));
  EXPECT_FALSE(is_lower_hex("0af9", 5));
  EXPECT_FALSE(is_lower_hex(""));
}

TEST(Codec, PercentEncoding) {
  EXPECT_EQ(uri_encode("a b/c~", false), "a%20b%2Fc~");
  EXPECT_EQ(uri_encode("a b/c~", true), "a%20b/c~");
  EXPECT_EQ(uri_encode("é", false), "%C3%A9");
  EXPECT_EQ(percent_decode("%41%4a%zz+", false), "AJ%zz+");
  EXPECT_EQ(percent_decode("%41+", true), "A ");
  EXPECT_EQ(percent_decode("100%", false), "100%");  // a lone '%' stays
  EXPECT_EQ(percent_decode("%4", false), "%4");
}

TEST(Codec, StrictPercentDecodingNamesTheBadOffset) {
  EXPECT_EQ(percent_decode_strict("a+b%2Fc", true).value(), "a b/c");
  EXPECT_EQ(percent_decode_strict("a+b", false).value(), "a+b");
  for (std::string_view bad : {"%", "%4", "x%zz", "%g0"}) {
    auto decoded = percent_decode_strict(bad, true);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(percent_decode_strict("ab%zz", true).error().message.find("offset 2"),
            std::string::npos);
}

TEST(Codec, ParseU64TakesDigitsOnly) {
  EXPECT_EQ(parse_u64("0"), 0U);
  EXPECT_EQ(parse_u64("18446744073709551615"), 18446744073709551615ULL);
  for (std::string_view bad : {"", "-1", "+1", " 1", "1 ", "1x", "18446744073709551616", "0x10"}) {
    EXPECT_FALSE(parse_u64(bad)) << bad;
  }
}

TEST(Codec, JsonNestingCountsBracketsOutsideStrings) {
  EXPECT_TRUE(json_nesting_within(R"({"a":[[1]]})", 3));
  EXPECT_FALSE(json_nesting_within(R"({"a":[[1]]})", 2));
  EXPECT_TRUE(json_nesting_within(R"({"a":"[[[[\"[[["})", 1));  // in a string, escaped quote
  EXPECT_FALSE(json_nesting_within(R"({"a":"\\"}[[[)", 2));     // an escaped backslash, then '"'
  EXPECT_FALSE(json_nesting_within(std::string(10000, '['), 64));
  EXPECT_TRUE(json_nesting_within("", 0));
}

TEST(Codec, AsciiCase) {
  EXPECT_EQ(to_lower("Content-TYPE é"), "content-type é");
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(iequals("Content-Type", "content-typ"));
  EXPECT_FALSE(iequals("a", "b"));
}

TEST(Codec, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("abc", "abc"));
  EXPECT_FALSE(constant_time_equals("abc", "abd"));
  EXPECT_FALSE(constant_time_equals("abc", "ab"));
  EXPECT_TRUE(constant_time_equals("", ""));
}

}  // namespace
}  // namespace imgflow::core
