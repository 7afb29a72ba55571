#include "core/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace imgflow::core {
namespace {

bool contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(MetricsRegistry, RendersCountersAndGaugesWithHelpTypeAndLabels) {
  MetricsRegistry registry;
  registry.counter("imgflow_things_total", "Things seen.", {{"kind", "a"}}).add(2);
  registry.counter("imgflow_things_total", "ignored", {{"kind", "b"}}).add();
  registry.gauge("imgflow_depth", "Queue depth.").set(7);
  const std::string text = registry.render();
  EXPECT_TRUE(contains(text,
                       "# HELP imgflow_things_total Things seen.\n"
                       "# TYPE imgflow_things_total counter\n"
                       "imgflow_things_total{kind=\"a\"} 2\n"
                       "imgflow_things_total{kind=\"b\"} 1\n"))
      << text;
  EXPECT_TRUE(contains(text, "# TYPE imgflow_depth gauge\nimgflow_depth 7\n")) << text;
}

TEST(MetricsRegistry, SameNameAndLabelsIsTheSameSeries) {
  MetricsRegistry registry;
  Counter& first = registry.counter("c_total", "C.", {{"x", "1"}});
  Counter& again = registry.counter("c_total", "C.", {{"x", "1"}});
  EXPECT_EQ(&first, &again);
  EXPECT_NE(&first, &registry.counter("c_total", "C.", {{"x", "2"}}));
}

TEST(MetricsRegistry, RefusesOneNameUnderTwoTypes) {
  MetricsRegistry registry;
  registry.counter("m", "M.");
  EXPECT_THROW(registry.gauge("m", "M."), std::logic_error);
}

TEST(MetricsRegistry, EscapesLabelValues) {
  EXPECT_EQ(render_labels({{"key", "a\"b\\c\nd"}}), R"({key="a\"b\\c\nd"})");
  EXPECT_EQ(render_labels({}), "");
}

// A refresh runs before each render, outside the lock, so it may look series up itself.
TEST(MetricsRegistry, RefreshesRunBeforeEachRender) {
  MetricsRegistry registry;
  int pending = 3;
  registry.add_refresh(
      [&registry, &pending] { registry.gauge("imgflow_pending", "Pending.").set(pending); });
  EXPECT_TRUE(contains(registry.render(), "imgflow_pending 3\n"));
  pending = 5;
  EXPECT_TRUE(contains(registry.render(), "imgflow_pending 5\n"));
}

TEST(Gauge, RaiseToKeepsTheHighestValueFromManyThreads) {
  Gauge peak;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&peak, t] {
      for (int i = 0; i < 10000; ++i) peak.raise_to(t * 10000 + i);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(peak.value(), 39999);
  peak.raise_to(5);
  EXPECT_EQ(peak.value(), 39999);
}

TEST(Histogram, BucketsAreCumulativeAndInclusiveOfTheirBound) {
  MetricsRegistry registry;
  Histogram& h = registry.histogram("d_seconds", "D.", {{"stage", "fetch"}}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.1);  // on the bound: counted in le="0.1"
  h.observe(0.5);
  h.observe(3);
  const std::string text = registry.render();
  EXPECT_TRUE(contains(text, "# TYPE d_seconds histogram\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_bucket{stage=\"fetch\",le=\"0.1\"} 2\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_bucket{stage=\"fetch\",le=\"1\"} 3\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_bucket{stage=\"fetch\",le=\"+Inf\"} 4\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_sum{stage=\"fetch\"} 3.65\n")) << text;
  EXPECT_TRUE(contains(text, "d_seconds_count{stage=\"fetch\"} 4\n")) << text;
}

TEST(Histogram, UnlabelledSeriesGetsOnlyTheLeLabel) {
  MetricsRegistry registry;
  registry.histogram("h", "H.", {}, {1}).observe(2);
  const std::string text = registry.render();
  EXPECT_TRUE(contains(text, "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n"))
      << text;
}

TEST(Histogram, RefusesUnsortedBounds) { EXPECT_THROW(Histogram({1, 0.5}), std::logic_error); }

TEST(Histogram, CountsEveryObservationFromManyThreads) {
  Histogram h(duration_buckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(0.003);
    });
  }
  for (auto& t : threads) t.join();
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.count, 40000U);
  EXPECT_NEAR(s.sum, 120.0, 1e-6);
}

}  // namespace
}  // namespace imgflow::core
