#include "core/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace imgflow::core {
namespace {

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string out;
  char buf[256];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST(Logger, WritesOneJsonObjectPerLineWithEscapedFields) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Logger logger(f, LogLevel::kInfo);
  logger.info("stored", {{"key", "a \"b\"\n"}, {"bytes", 42}, {"ok", true}});
  logger.log(LogLevel::kDebug, "hidden");
  const std::string text = read_all(f);
  std::fclose(f);
  EXPECT_NE(text.find(R"("level":"info","msg":"stored","key":"a \"b\"\n","bytes":42,"ok":true})"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(Logger, TextLinesAreForPeopleWithQuotedAndEscapedValues) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Logger logger(f, LogLevel::kInfo, LogFormat::kText);
  logger.warn(
      "failed",
      {{"key", "my photo.jpg"}, {"bytes", 42}, {"reason", ""}, {"note", "a \"quote\"\x1b[31m"}});
  const std::string text = read_all(f);
  std::fclose(f);
  EXPECT_NE(text.find(R"( warn  failed key="my photo.jpg" bytes=42 note="a \"quote\"\x1B[31m")"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("reason"), std::string::npos) << "empty fields are left out";
  EXPECT_EQ(text.front(), '2');  // the timestamp leads
}

TEST(Logger, LambdaLinesCarryTheKeysLambdaFiltersOn) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Logger logger(f, LogLevel::kInfo, LogFormat::kLambda);
  logger.warn("stored", {{"request_id", "r-1"}, {"bytes", 42}});
  const std::string text = read_all(f);
  std::fclose(f);
  EXPECT_EQ(text.rfind("{\"timestamp\":\"20", 0), 0U) << text;
  EXPECT_NE(text.find(R"("level":"WARN","message":"stored","requestId":"r-1","bytes":42})"),
            std::string::npos)
      << text;
}

TEST(Logger, ParsesTheFormatNames) {
  EXPECT_EQ(parse_log_format("lambda"), LogFormat::kLambda);
  EXPECT_EQ(parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(parse_log_format("text"), LogFormat::kText);
  EXPECT_FALSE(parse_log_format("JSON"));
}

TEST(Logger, EscapesControlCharacters) {
  std::string out;
  append_json_string(out, std::string("\x01x", 2));
  EXPECT_EQ(out, "\"\\u0001x\"");
}

}  // namespace
}  // namespace imgflow::core
