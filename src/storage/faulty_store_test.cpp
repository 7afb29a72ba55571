#include "storage/faulty_store.h"

#include <gtest/gtest.h>

#include "storage/memory_store.h"
#include "storage/test_support.h"

namespace imgflow::storage {
namespace {

class FaultyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(inner_.create_bucket("bkt"));
    ASSERT_OK(inner_.put("bkt", "k", "0123456789"));
  }
  MemoryStore inner_;
};

TEST_F(FaultyStoreTest, FailsTheNthCallOnly) {
  FaultyStore store(inner_, FaultPlan{.fail_nth_call = 2});
  ASSERT_OK(store.head("bkt", "k"));
  auto second = store.put("bkt", "k2", "x");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, core::ErrorCode::kUnavailable);
  EXPECT_FALSE(inner_.head("bkt", "k2"));  // the failed call never reached the inner store
  ASSERT_OK(store.put("bkt", "k2", "x"));
  EXPECT_EQ(store.calls(), 3U);
  EXPECT_EQ(store.injected_failures(), 1U);
}

TEST_F(FaultyStoreTest, FailsAFractionReproducibly) {
  auto count_failures = [&](std::uint64_t seed) {
    FaultyStore store(inner_, FaultPlan{.fail_fraction = 0.3, .seed = seed});
    std::string pattern;
    for (int i = 0; i < 200; ++i) pattern += store.head("bkt", "k") ? '.' : 'x';
    return pattern;
  };
  const std::string a = count_failures(42);
  EXPECT_EQ(a, count_failures(42));
  const auto failures = std::count(a.begin(), a.end(), 'x');
  EXPECT_GT(failures, 30);
  EXPECT_LT(failures, 100);
}

TEST_F(FaultyStoreTest, CustomCodeAndPlanReset) {
  FaultyStore store(inner_);
  ASSERT_OK(store.head("bkt", "k"));
  store.set_plan(FaultPlan{.fail_nth_call = 1, .code = core::ErrorCode::kTimeout});
  EXPECT_EQ(store.list("bkt", {}).error().code, core::ErrorCode::kTimeout);
  ASSERT_OK(store.list("bkt", {}));
}

TEST_F(FaultyStoreTest, TruncatesReadBodies) {
  FaultyStore store(inner_, FaultPlan{.truncate_reads_at = 4});
  std::string out;
  StringSink sink(out);
  auto got = store.get("bkt", "k", sink);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, core::ErrorCode::kUnavailable);
  EXPECT_EQ(out, "0123");
}

TEST_F(FaultyStoreTest, TruncatesPutBodies) {
  FaultyStore store(inner_, FaultPlan{.truncate_puts_at = 3});
  PutOptions options;
  options.content_length = 10;
  EXPECT_DETAIL(store.put("bkt", "k3", "abcdefghij", options), ErrorDetail::kIncompleteBody);
  ASSERT_OK(store.put("bkt", "k3", "abcdefghij"));
  EXPECT_EQ(inner_.get_string("bkt", "k3").value(), "abc");
}

}  // namespace
}  // namespace imgflow::storage
