#include "gateway/scoped_store.h"

#include <gtest/gtest.h>

#include "storage/memory_store.h"

namespace imgflow::gateway {
namespace {

// The store the embedded handler gets: the function role's view of a real store, so a handler
// bug is refused exactly as an external worker holding the function's keys would be.
class ScopedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* bucket : {"uploads", "processed", "quarantine", "elsewhere"}) {
      ASSERT_TRUE(store_.create_bucket(bucket));
    }
    ASSERT_TRUE(store_.put("uploads", "cat.jpg", "source bytes"));
    ASSERT_TRUE(store_.put("elsewhere", "secret.txt", "not the function's"));
  }

  static bool denied(const core::Status& status) {
    return !status && status.error().code == core::ErrorCode::kPermissionDenied &&
           status.error().reason == "AccessDenied";
  }
  template <class T>
  static bool denied(const core::Result<T>& result) {
    return !result && result.error().code == core::ErrorCode::kPermissionDenied &&
           result.error().reason == "AccessDenied";
  }

  storage::MemoryStore store_;
  BucketRoles roles_;  // uploads → processed, no scanning
};

TEST_F(ScopedStoreTest, TheFunctionReadsItsSourceAndWritesOnlyItsDestination) {
  ScopedStore function(store_, Principal::kFunction, roles_);
  EXPECT_EQ(function.get_string("uploads", "cat.jpg").value_or(""), "source bytes");
  EXPECT_TRUE(function.put("processed", "cat.jpg/thumb.webp", "variant"));
  EXPECT_EQ(function.get_string("processed", "cat.jpg/thumb.webp").value_or(""), "variant");
  EXPECT_TRUE(function.delete_object("processed", "cat.jpg/thumb.webp"));
}

TEST_F(ScopedStoreTest, AHandlerBugCannotWriteIntoTheSourceNorReachOtherBuckets) {
  ScopedStore function(store_, Principal::kFunction, roles_);
  EXPECT_TRUE(denied(function.put("uploads", "cat.jpg", "overwritten")));
  EXPECT_TRUE(denied(function.put("uploads", "new.jpg", "planted")));
  EXPECT_TRUE(denied(function.delete_object("uploads", "cat.jpg")));
  EXPECT_TRUE(denied(function.copy("processed", "x", "uploads", "y", {})));
  EXPECT_TRUE(denied(function.create_multipart_upload("uploads", "big.jpg", {})));
  EXPECT_TRUE(denied(function.get_string("elsewhere", "secret.txt")));
  EXPECT_TRUE(denied(function.head("elsewhere", "secret.txt")));
  EXPECT_TRUE(denied(function.list("uploads", {})));
  EXPECT_TRUE(denied(function.put("quarantine", "cat.jpg", "held")));  // no scan: section
  EXPECT_TRUE(denied(function.create_bucket("mine")));
  EXPECT_TRUE(denied(function.list_buckets()));
  // Nothing refused reached the store.
  EXPECT_EQ(store_.get_string("uploads", "cat.jpg").value_or(""), "source bytes");
  EXPECT_FALSE(store_.head("uploads", "new.jpg"));
  EXPECT_FALSE(store_.head("quarantine", "cat.jpg"));
  EXPECT_FALSE(store_.head_bucket("mine"));
}

TEST_F(ScopedStoreTest, WhenTheRecipeScansTheFunctionMayQuarantineButNotReadTheQuarantine) {
  roles_.scanning = true;
  roles_.quarantine = "quarantine";
  ScopedStore function(store_, Principal::kFunction, roles_);
  EXPECT_TRUE(function.put("quarantine", "cat.jpg", "held"));
  EXPECT_TRUE(denied(function.get_string("quarantine", "cat.jpg")));
  EXPECT_TRUE(denied(function.delete_object("quarantine", "cat.jpg")));
  EXPECT_TRUE(function.delete_object("uploads", "cat.jpg"));
  EXPECT_TRUE(denied(function.put("uploads", "cat.jpg", "still no writes")));
}

TEST_F(ScopedStoreTest, TheAdminMayDoEverything) {
  ScopedStore admin(store_, Principal::kAdmin, roles_);
  EXPECT_TRUE(admin.put("uploads", "restored.jpg", "backup"));
  EXPECT_EQ(admin.get_string("elsewhere", "secret.txt").value_or(""), "not the function's");
}

}  // namespace
}  // namespace imgflow::gateway
