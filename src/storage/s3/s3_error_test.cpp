#include "storage/s3/s3_error.h"

#include <gtest/gtest.h>

namespace imgflow::storage::s3 {
namespace {

using core::ErrorCode;

TEST(S3Error, ParsesAndMaps) {
  const auto body = parse_error_body(
      "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message>"
      "<RequestId>R1</RequestId></Error>");
  EXPECT_EQ(body.code, "SlowDown");
  EXPECT_EQ(body.request_id, "R1");
  EXPECT_TRUE(is_retryable(503, body));
  EXPECT_EQ(to_error(503, body, Target::kObject).code, ErrorCode::kUnavailable);
  EXPECT_TRUE(parse_error_body("not xml").code.empty());
  EXPECT_FALSE(is_retryable(501, {"NotImplemented", "", ""}));
  EXPECT_EQ(to_error(501, {"NotImplemented", "", ""}, Target::kObject).code,
            ErrorCode::kUnsupported);
  EXPECT_EQ(to_error(400, {"RequestTimeout", "", ""}, Target::kObject).code, ErrorCode::kTimeout);
  EXPECT_TRUE(is_retryable(400, {"RequestTimeout", "", ""}));
  EXPECT_EQ(to_error(403, {}, Target::kObject).code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(to_error(400, {"Weird", "", ""}, Target::kObject).code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgflow::storage::s3
