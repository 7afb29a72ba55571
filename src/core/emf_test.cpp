#include "core/emf.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace imgflow::core {
namespace {

using nlohmann::json;

json line_with(const std::vector<std::string>& lines, const std::string& metric) {
  for (const std::string& line : lines) {
    const json j = json::parse(line);
    if (j.contains(metric)) return j;
  }
  return json();
}

TEST(Emf, EachFlushHoldsWhatChangedSinceTheLastOne) {
  MetricsRegistry registry;
  Counter& processed = registry.counter("imgflow_records_total", "", {{"outcome", "processed"}});
  Counter& bytes = registry.counter("imgflow_output_bytes_total", "");
  Histogram& render =
      registry.histogram("imgflow_stage_duration_seconds", "", {{"stage", "render"}});
  EmfWriter writer({.name_space = "imgflow", .dimensions = {{"FunctionName", "f"}}});

  processed.add(2);
  bytes.add(1000);
  render.observe(0.3);
  render.observe(0.4);
  render.observe(120);  // past the last bound
  const std::vector<std::string> first = writer.lines_since_last(registry, 1700000000000);
  ASSERT_EQ(first.size(), 3U);  // one per label set: outcome, stage, none

  const json records = line_with(first, "imgflow_records_total");
  EXPECT_EQ(records["imgflow_records_total"], 2);
  EXPECT_EQ(records["outcome"], "processed");
  EXPECT_EQ(records["FunctionName"], "f");
  const json& directive = records["_aws"]["CloudWatchMetrics"][0];
  EXPECT_EQ(records["_aws"]["Timestamp"], 1700000000000);
  EXPECT_EQ(directive["Namespace"], "imgflow");
  EXPECT_EQ(directive["Dimensions"], json::parse(R"([["FunctionName","outcome"]])"));
  EXPECT_EQ(directive["Metrics"][0]["Unit"], "Count");

  EXPECT_EQ(
      line_with(first,
                "imgflow_output_bytes_total")["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
      "Bytes");
  const json stage = line_with(first, "imgflow_stage_duration_seconds");
  EXPECT_EQ(stage["stage"], "render");
  EXPECT_EQ(stage["imgflow_stage_duration_seconds"]["Values"], json::parse("[0.5, 60]"));
  EXPECT_EQ(stage["imgflow_stage_duration_seconds"]["Counts"], json::parse("[2, 1]"));

  // Nothing new: nothing written. Then only the increase.
  EXPECT_TRUE(writer.lines_since_last(registry, 1700000001000).empty());
  processed.add();
  const std::vector<std::string> second = writer.lines_since_last(registry, 1700000002000);
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(json::parse(second[0])["imgflow_records_total"], 1);
}

}  // namespace
}  // namespace imgflow::core
