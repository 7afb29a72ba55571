#include "gateway/policy.h"

#include <gtest/gtest.h>

namespace imgflow::gateway {
namespace {

struct Row {
  Principal principal;
  Operation op;
  std::string_view bucket;
  bool allowed;
};

// The least-privilege table of ARCHITECTURE.md, row by row. Anything not listed as allowed is
// denied: the rows with `false` pin down the denials that matter most.
constexpr Row kTable[] = {
    {Principal::kAnonymous, Operation::kPutObject, "uploads", true},
    {Principal::kAnonymous, Operation::kPostObject, "uploads", true},
    {Principal::kAnonymous, Operation::kGetObject, "uploads", false},
    {Principal::kAnonymous, Operation::kHeadObject, "uploads", false},
    {Principal::kAnonymous, Operation::kListObjectsV2, "uploads", false},
    {Principal::kAnonymous, Operation::kListObjects, "uploads", false},
    {Principal::kAnonymous, Operation::kDeleteObject, "uploads", false},
    {Principal::kAnonymous, Operation::kCopyObject, "uploads", false},
    {Principal::kAnonymous, Operation::kCreateMultipartUpload, "uploads", false},
    {Principal::kAnonymous, Operation::kPutObject, "processed", false},
    {Principal::kAnonymous, Operation::kGetObject, "processed", false},
    {Principal::kAnonymous, Operation::kListBuckets, "", false},
    {Principal::kAnonymous, Operation::kCreateBucket, "other", false},
    {Principal::kAnonymous, Operation::kOperational, "_imgflow", true},
    {Principal::kAnonymous, Operation::kAdmin, "_imgflow", false},
    {Principal::kFunction, Operation::kAdmin, "_imgflow", false},
    {Principal::kAdmin, Operation::kAdmin, "_imgflow", true},
    {Principal::kFunction, Operation::kGetObject, "uploads", true},
    {Principal::kFunction, Operation::kHeadObject, "uploads", true},
    {Principal::kFunction, Operation::kPutObject, "uploads", false},
    {Principal::kFunction, Operation::kDeleteObject, "uploads", false},
    {Principal::kFunction, Operation::kListObjectsV2, "uploads", false},
    {Principal::kFunction, Operation::kPutObject, "processed", true},
    {Principal::kFunction, Operation::kCreateMultipartUpload, "processed", true},
    {Principal::kFunction, Operation::kUploadPart, "processed", true},
    {Principal::kFunction, Operation::kCompleteMultipartUpload, "processed", true},
    {Principal::kFunction, Operation::kGetObject, "processed", true},
    {Principal::kFunction, Operation::kDeleteObject, "processed", true},
    {Principal::kFunction, Operation::kDeleteObjects, "processed", false},
    {Principal::kFunction, Operation::kCopyObject, "processed", false},
    {Principal::kFunction, Operation::kListBuckets, "", false},
    {Principal::kFunction, Operation::kGetObject, "other", false},
    {Principal::kAdmin, Operation::kDeleteObjects, "uploads", true},
    {Principal::kAdmin, Operation::kListObjectsV2, "processed", true},
    {Principal::kAdmin, Operation::kCreateBucket, "other", true},
    {Principal::kAdmin, Operation::kListBuckets, "", true},
};

TEST(PolicyTest, FollowsTheLeastPrivilegeTable) {
  const BucketRoles roles;
  for (const Row& row : kTable) {
    EXPECT_EQ(is_allowed(row.principal, row.op, row.bucket, roles), row.allowed)
        << to_string(row.principal) << " " << to_string(row.op) << " " << row.bucket;
  }
}

TEST(PolicyTest, PrincipalNamesRoundTrip) {
  EXPECT_EQ(principal_from("admin"), Principal::kAdmin);
  EXPECT_EQ(principal_from("function"), Principal::kFunction);
  EXPECT_EQ(principal_from("somebody"), Principal::kAnonymous);
}

}  // namespace
}  // namespace imgflow::gateway
