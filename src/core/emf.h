#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics.h"

// CloudWatch Embedded Metric Format: metrics as JSON log lines that CloudWatch Logs turns into
// metrics (on Lambda, stdout goes there). A second renderer of core::MetricsRegistry beside the
// Prometheus text: recording is the same, only the rendering differs.
namespace imgflow::core {

struct EmfOptions {
  std::string name_space = "imgflow";
  // Dimensions every line carries, e.g. {{"FunctionName", "imgflow-process"}}. A series' own
  // labels are added to them as further dimensions.
  std::vector<std::pair<std::string, std::string>> dimensions;
};

// Writes what a registry recorded since the previous call: each counter's increase, each
// gauge's value when it changed, and each histogram's new observations (as EMF's Values and
// Counts, a value per bucket: its upper bound, or for the overflow bucket the highest bound).
// One JSON object per line, one line per label set (EMF dimensions are the line's own keys), and
// nothing for a series that did not change. Units follow the name: _seconds is Seconds, _bytes
// and _bytes_total are Bytes, anything else Count. Not thread-safe: one writer per flusher.
class EmfWriter {
 public:
  explicit EmfWriter(EmfOptions options) : options_(std::move(options)) {}

  std::vector<std::string> lines_since_last(const MetricsRegistry& registry,
                                            std::int64_t timestamp_ms);

 private:
  EmfOptions options_;
  std::map<std::string, std::uint64_t> counters_;                 // series key → last value
  std::map<std::string, std::int64_t> gauges_;                    // series key → last value
  std::map<std::string, std::vector<std::uint64_t>> histograms_;  // series key → cumulative
};

}  // namespace imgflow::core
