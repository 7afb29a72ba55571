// The runtime with the real Handler: an upload's outbox event becomes variants and a manifest.

#include <gtest/gtest.h>

#include "function/handler.h"
#include "image/image.h"
#include "image/test_images.h"
#include "runtime/dispatcher.h"
#include "runtime/test_support.h"
#include "storage/memory_store.h"

namespace imgflow::runtime {
namespace {

using namespace std::chrono_literals;
using testing::LogCapture;
using testing::wait_until;

recipe::Recipe one_small_variant() {
  recipe::Recipe r;
  recipe::Variant small;
  small.name = "small";
  small.resize.width = 64;
  small.encode.format = recipe::Format::kJpeg;
  r.variants = {small};
  return r;
}

TEST(RuntimeWithHandlerTest, AnUploadEventEndsInAManifest) {
  ASSERT_TRUE(image::init());
  storage::MemoryStore source;
  storage::MemoryStore destination;
  ASSERT_TRUE(source.create_bucket("uploads"));
  ASSERT_TRUE(destination.create_bucket("processed"));
  LogCapture log;
  core::Logger logger(log.file());
  function::HandlerConfig config;
  config.recipe = one_small_variant();
  function::Handler handler(config, source, destination, logger, core::SystemClock::instance());

  storage::PutOptions put;
  put.content_type = "image/jpeg";
  put.event = storage::EventToRecord{"ObjectCreated:Put", ""};
  const std::string jpeg = image::testing::to_jpeg(image::testing::test_card(200, 150));
  ASSERT_TRUE(source.put("uploads", "photos/cat.jpg", jpeg, put));

  DispatcherOptions options;
  options.workers = 1;
  options.poll_interval = 5ms;
  Dispatcher dispatcher(source, source, handler_function(handler), logger,
                        core::SystemClock::instance(), options);
  dispatcher.start();
  ASSERT_TRUE(wait_until([&] { return *source.count_pending() == 0; }, 60s));
  dispatcher.stop();

  EXPECT_EQ(dispatcher.stats().succeeded.value(), 1U);
  EXPECT_EQ(*source.count_dead_letters(), 0U);
  auto manifest = destination.get_string("processed", "photos/cat.jpg/manifest.json");
  ASSERT_TRUE(manifest) << manifest.error().to_string();
  EXPECT_NE(manifest->find("photos/cat.jpg"), std::string::npos);
  EXPECT_TRUE(destination.head("processed", "photos/cat.jpg/small.jpg"));
}

}  // namespace
}  // namespace imgflow::runtime
