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
    {Principal::kAnonymous, Operation::kCreateMultipartUpload, "uploads", true},
    {Principal::kAnonymous, Operation::kUploadPart, "uploads", true},
    {Principal::kAnonymous, Operation::kCompleteMultipartUpload, "uploads", true},
    {Principal::kAnonymous, Operation::kAbortMultipartUpload, "uploads", true},
    {Principal::kAnonymous, Operation::kUploadPartCopy, "uploads", false},
    {Principal::kAnonymous, Operation::kListParts, "uploads", false},
    {Principal::kAnonymous, Operation::kListMultipartUploads, "uploads", false},
    {Principal::kAnonymous, Operation::kCreateMultipartUpload, "processed", false},
    {Principal::kAnonymous, Operation::kGetBucketAcl, "uploads", false},
    {Principal::kAnonymous, Operation::kGetObjectAcl, "uploads", false},
    {Principal::kAnonymous, Operation::kListObjectVersions, "uploads", false},
    {Principal::kAnonymous, Operation::kDeleteBucket, "uploads", false},
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
    {Principal::kFunction, Operation::kUploadPartCopy, "processed", false},
    {Principal::kFunction, Operation::kGetObjectAcl, "uploads", false},
    {Principal::kFunction, Operation::kListObjectVersions, "processed", false},
    {Principal::kFunction, Operation::kDeleteBucket, "other", false},
    {Principal::kFunction, Operation::kGetObject, "other", false},
    {Principal::kAdmin, Operation::kDeleteObjects, "uploads", true},
    {Principal::kAdmin, Operation::kListObjectsV2, "processed", true},
    {Principal::kAdmin, Operation::kCreateBucket, "other", true},
    {Principal::kAdmin, Operation::kListBuckets, "", true},
    {Principal::kAdmin, Operation::kDeleteBucket, "other", true},
    {Principal::kAdmin, Operation::kGetBucketAcl, "uploads", true},
    {Principal::kAdmin, Operation::kListObjectVersions, "uploads", true},
    {Principal::kAdmin, Operation::kUploadPartCopy, "uploads", true},
};

TEST(PolicyTest, FollowsTheLeastPrivilegeTable) {
  const BucketRoles roles;
  for (const Row& row : kTable) {
    EXPECT_EQ(is_allowed(row.principal, row.op, row.bucket, roles, {}), row.allowed)
        << to_string(row.principal) << " " << to_string(row.op) << " " << row.bucket;
  }
}

TEST(PolicyTest, PublicReadIsGetAndHeadUnderThePrefixOnly) {
  const auto parsed = parse_public_read("processed/photos/");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->bucket, "processed");
  EXPECT_EQ(parsed->prefix, "photos/");
  EXPECT_EQ(parse_public_read("processed")->prefix, "");
  EXPECT_FALSE(parse_public_read(""));
  EXPECT_FALSE(parse_public_read("/photos/"));
  EXPECT_FALSE(parse_public_read("Processed"));
  EXPECT_FALSE(parse_public_read("pro..cessed"));  // S3 refuses these names too
  EXPECT_FALSE(parse_public_read("192.168.1.10/x"));

  const PublicRead pr = *parsed;
  EXPECT_TRUE(is_public_read(Operation::kGetObject, "processed", "photos/a.jpg/large.jpg", pr));
  EXPECT_TRUE(is_public_read(Operation::kHeadObject, "processed", "photos/x", pr));
  EXPECT_FALSE(is_public_read(Operation::kGetObject, "processed", "other/x", pr));
  EXPECT_FALSE(is_public_read(Operation::kGetObject, "uploads", "photos/x", pr));
  for (Operation op : {Operation::kListObjectsV2, Operation::kPutObject, Operation::kDeleteObject,
                       Operation::kGetObjectAcl}) {
    EXPECT_FALSE(is_public_read(op, "processed", "photos/x", pr));
  }
  EXPECT_FALSE(is_public_read(Operation::kGetObject, "processed", "photos/x", PublicRead{}));
}

TEST(PolicyTest, AnonymousUploadsTurnedOffLeaveOnlyPresignedUploads) {
  const BucketRoles roles;
  AnonymousUploads off;
  off.enabled = false;
  for (const Operation op : {Operation::kPutObject, Operation::kPostObject,
                             Operation::kCreateMultipartUpload, Operation::kUploadPart}) {
    EXPECT_FALSE(is_allowed(Principal::kAnonymous, op, "uploads", roles, off)) << to_string(op);
    EXPECT_TRUE(is_allowed(Principal::kAdmin, op, "uploads", roles, off)) << to_string(op);
    EXPECT_NE(denial_message(Principal::kAnonymous, op, "uploads", roles, off).find("presigned"),
              std::string::npos);
  }
  EXPECT_TRUE(is_allowed(Principal::kAnonymous, Operation::kOperational, "_imgflow", roles, off));
  EXPECT_EQ(denial_message(Principal::kAnonymous, Operation::kGetObject, "uploads", roles, {}),
            "Access Denied");
}

TEST(PolicyTest, OnlyTheFunctionAndTheAdminWriteImgflowMetadata) {
  const std::map<std::string, std::string> stamped = {{"camera", "x"}, {"imgflow-variant", "v"}};
  EXPECT_TRUE(check_metadata(Principal::kAnonymous, stamped));
  EXPECT_EQ(check_metadata(Principal::kAnonymous, stamped)->code, "AccessDenied");
  EXPECT_FALSE(check_metadata(Principal::kAnonymous, {{"camera", "imgflow-x"}}));
  EXPECT_FALSE(check_metadata(Principal::kFunction, stamped));
  EXPECT_FALSE(check_metadata(Principal::kAdmin, stamped));
}

TEST(PolicyTest, AnonymousKeysLeaveRoomForTheOutputNames) {
  EXPECT_EQ(max_anonymous_key_bytes(""), 954u);
  EXPECT_EQ(max_anonymous_key_bytes("renditions"), 954u - 11u);
  // The longest output: the key, '/', a 64-byte variant name, '.', a 4-byte extension.
  EXPECT_EQ(954u + 1 + 64 + 1 + 4, 1024u);
  BucketRoles roles;
  EXPECT_FALSE(check_anonymous_key(std::string(954, 'k'), roles));
  EXPECT_EQ(check_anonymous_key(std::string(955, 'k'), roles)->code, "KeyTooLongError");
  roles.destination_prefix = "renditions";
  EXPECT_EQ(check_anonymous_key(std::string(944, 'k'), roles)->code, "KeyTooLongError");
  const auto control = check_anonymous_key("a\r\nb.jpg", roles);
  ASSERT_TRUE(control);
  EXPECT_EQ(control->code, "InvalidArgument");
  EXPECT_NE(control->message.find("control character 0x0D at byte 1"), std::string::npos)
      << control->message;
  EXPECT_NE(check_anonymous_key("next\xc2\x85line", roles)->message.find("U+0085"),
            std::string::npos);
  EXPECT_FALSE(check_anonymous_key("caf\xc3\xa9 \xe2\x80\x94 photo.jpg", roles));
}

TEST(PolicyTest, AnonymousContentTypesAreTheImagesTheEngineReads) {
  for (const char* ok : {"image/jpeg", "IMAGE/JPEG", "image/jpg", "image/png;a=b", "image/webp",
                         "image/gif", "image/tiff", "image/heic", "image/heif", "image/avif",
                         "application/octet-stream", "binary/octet-stream"}) {
    EXPECT_FALSE(check_anonymous_content_type(ok)) << ok;
  }
  for (const char* refused : {"image/svg+xml", "image/x-icon", "image/bmp", "text/html",
                              "application/pdf", "video/mp4"}) {
    const auto denied = check_anonymous_content_type(refused);
    ASSERT_TRUE(denied) << refused;
    EXPECT_EQ(denied->code, "AccessDenied") << refused;
  }
  for (const char* malformed :
       {"image/jpeg, text/html", "image/", "", "jpeg", "image/jpeg;charset"}) {
    const auto denied = check_anonymous_content_type(malformed);
    ASSERT_TRUE(denied) << malformed;
    EXPECT_EQ(denied->code, "InvalidArgument") << malformed;
  }
}

TEST(PolicyTest, AnonymousUploadsAreCreateOnlyUnlessAllowed) {
  AnonymousUploads anonymous;
  EXPECT_FALSE(may_replace_objects(Principal::kAnonymous, anonymous));
  EXPECT_TRUE(may_replace_objects(Principal::kAdmin, anonymous));
  EXPECT_TRUE(may_replace_objects(Principal::kFunction, anonymous));
  anonymous.may_overwrite = true;
  EXPECT_TRUE(may_replace_objects(Principal::kAnonymous, anonymous));
  EXPECT_FALSE(may_delete_bucket("uploads", BucketRoles{}));
  EXPECT_FALSE(may_delete_bucket("processed", BucketRoles{}));
  EXPECT_TRUE(may_delete_bucket("scratch", BucketRoles{}));
}

TEST(PolicyTest, PrincipalNamesRoundTrip) {
  EXPECT_EQ(principal_from("admin"), Principal::kAdmin);
  EXPECT_EQ(principal_from("function"), Principal::kFunction);
  EXPECT_EQ(principal_from("somebody"), Principal::kAnonymous);
}

}  // namespace
}  // namespace imgflow::gateway
