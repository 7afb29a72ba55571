#include "core/emf.h"

#include <nlohmann/json.hpp>

namespace imgflow::core {
namespace {

using nlohmann::ordered_json;

std::string unit_of(std::string_view name) {
  if (name.ends_with("_seconds")) return "Seconds";
  if (name.ends_with("_bytes") || name.ends_with("_bytes_total")) return "Bytes";
  return "Count";
}

// The data points one series contributes to a line: a number, or EMF's Values/Counts.
struct Point {
  std::string name;
  std::string unit;
  ordered_json value;
};

// One line per label set: the dimensions are the line's own keys.
struct Line {
  std::vector<std::pair<std::string, std::string>> dimensions;
  std::vector<Point> points;
};

}  // namespace

std::vector<std::string> EmfWriter::lines_since_last(const MetricsRegistry& registry,
                                                     std::int64_t timestamp_ms) {
  std::map<std::string, Line> lines;  // key: the rendered labels
  auto line_for = [&](const MetricsRegistry::SeriesView& s) -> Line& {
    Line& line = lines[std::string(s.rendered_labels)];
    if (line.dimensions.empty()) {
      line.dimensions = options_.dimensions;
      for (const auto& label : *s.labels) line.dimensions.push_back(label);
    }
    return line;
  };
  registry.for_each([&](const MetricsRegistry::SeriesView& s) {
    const std::string key = std::string(s.name) + std::string(s.rendered_labels);
    switch (s.type) {
      case MetricsRegistry::Type::kCounter: {
        std::uint64_t& last = counters_[key];
        if (s.counter > last) {
          line_for(s).points.push_back({std::string(s.name), unit_of(s.name), s.counter - last});
        }
        last = s.counter;
        break;
      }
      case MetricsRegistry::Type::kGauge: {
        auto [it, first] = gauges_.emplace(key, s.gauge);
        if (first || it->second != s.gauge) {
          line_for(s).points.push_back({std::string(s.name), unit_of(s.name), s.gauge});
        }
        it->second = s.gauge;
        break;
      }
      case MetricsRegistry::Type::kHistogram: {
        const Histogram::Snapshot& h = *s.histogram;
        std::vector<std::uint64_t>& last = histograms_[key];
        last.resize(h.cumulative.size(), 0);
        ordered_json values = ordered_json::array();
        ordered_json counts = ordered_json::array();
        std::uint64_t below_now = 0;
        std::uint64_t below_last = 0;
        for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
          const std::uint64_t added = (h.cumulative[i] - below_now) - (last[i] - below_last);
          below_now = h.cumulative[i];
          below_last = last[i];
          if (added == 0 || h.upper_bounds.empty()) continue;
          values.push_back(h.upper_bounds[std::min(i, h.upper_bounds.size() - 1)]);
          counts.push_back(added);
        }
        last = h.cumulative;
        if (!values.empty()) {
          line_for(s).points.push_back({std::string(s.name), unit_of(s.name),
                                        ordered_json{{"Values", values}, {"Counts", counts}}});
        }
        break;
      }
    }
  });

  std::vector<std::string> out;
  for (const auto& [labels, line] : lines) {
    if (line.points.empty()) continue;
    ordered_json dimension_names = ordered_json::array();
    for (const auto& [name, value] : line.dimensions) dimension_names.push_back(name);
    ordered_json metrics = ordered_json::array();
    for (const Point& p : line.points) metrics.push_back({{"Name", p.name}, {"Unit", p.unit}});
    ordered_json j;
    j["_aws"] = {{"Timestamp", timestamp_ms},
                 {"CloudWatchMetrics",
                  ordered_json::array({{{"Namespace", options_.name_space},
                                        {"Dimensions", ordered_json::array({dimension_names})},
                                        {"Metrics", metrics}}})}};
    for (const auto& [name, value] : line.dimensions) j[name] = value;
    for (const Point& p : line.points) j[p.name] = p.value;
    out.push_back(j.dump());
  }
  return out;
}

}  // namespace imgflow::core
