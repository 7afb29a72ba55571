#include "core/text.h"

#include <gtest/gtest.h>

namespace imgflow::core {
namespace {

TEST(Utf8, AcceptsWellFormedSequencesOfEveryLength) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii\n"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_TRUE(is_valid_utf8(std::string_view("\0", 1)));                    // controls are UTF-8
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98\x80rest"), 4U);
}

TEST(Utf8, RefusesEveryMalformedKind) {
  EXPECT_FALSE(is_valid_utf8("\x80"));              // a continuation byte alone
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_EQ(utf8_sequence_length(""), 0U);
}

TEST(Utf8, CodePointsOfWellFormedTextAndReplacementsForTheRest) {
  EXPECT_EQ(utf8_code_points("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), U"a\u00E9\u20AC\U0001F600");
  EXPECT_EQ(utf8_code_points("x\xFFy"), U"x\uFFFDy");
}

TEST(EscapeForTerminal, KeepsPrintableTextAndEscapesWhatCouldForgeOrDrive) {
  EXPECT_EQ(escape_for_terminal("photos/caf\xC3\xA9 1.jpg"), "photos/caf\xC3\xA9 1.jpg");
  EXPECT_EQ(escape_for_terminal("a\r\nb"), "a\\x0D\\x0Ab");
  EXPECT_EQ(escape_for_terminal("\x1B[2Jx"), "\\x1B[2Jx");
  EXPECT_EQ(escape_for_terminal("\x7F"), "\\x7F");
  EXPECT_EQ(escape_for_terminal("\xC2\x9B"
                                "31m"),
            "\\xC2\\x9B31m");  // C1 CSI
  EXPECT_EQ(escape_for_terminal("bad \xFF byte"), "bad \\xFF byte");
  EXPECT_EQ(escape_for_terminal(std::string_view("\0", 1)), "\\x00");
}

}  // namespace
}  // namespace imgflow::core
