#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace imgflow::core {
namespace {

constexpr double kMicro = 1e6;

// Prometheus label values escape backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string format_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

// `{labels,le="x"}`: the bucket label joins the series' own.
std::string with_le(const std::string& labels, const std::string& le) {
  std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2) + ",";
  return "{" + inner + "le=\"" + le + "\"}";
}

void render_histogram(std::string& out, std::string_view name_view, const std::string& labels,
                      const Histogram::Snapshot& s) {
  const std::string name(name_view);
  for (std::size_t i = 0; i < s.upper_bounds.size(); ++i) {
    out += name + "_bucket" + with_le(labels, format_number(s.upper_bounds[i])) + " " +
           std::to_string(s.cumulative[i]) + "\n";
  }
  out += name + "_bucket" + with_le(labels, "+Inf") + " " + std::to_string(s.count) + "\n";
  out += name + "_sum" + labels + " " + format_number(s.sum) + "\n";
  out += name + "_count" + labels + " " + std::to_string(s.count) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_.size() + 1)) {
  if (!std::is_sorted(upper_bounds_.begin(), upper_bounds_.end())) {
    throw std::logic_error("histogram bounds must be sorted");
  }
}

void Histogram::observe(double value) {
  const auto bound = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  const auto index = static_cast<std::size_t>(bound - upper_bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  const double micros = std::max(0.0, std::round(value * kMicro));
  sum_micros_.fetch_add(static_cast<std::uint64_t>(micros), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    if (i < upper_bounds_.size()) s.cumulative.push_back(running);
  }
  s.cumulative.push_back(running);
  s.count = running;
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / kMicro;
  return s;
}

std::vector<double> duration_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first + "=\"";
    append_label_value(out, labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

const char* MetricsRegistry::type_name(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

MetricsRegistry::Family& MetricsRegistry::family(std::string_view name, std::string_view help,
                                                 Type type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.type = type;
    it->second.help = std::string(help);
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + std::string(name) + " registered with another type");
  }
  return it->second;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Type::kCounter).counters[render_labels(labels)];
  if (!slot.metric) slot = {labels, std::make_unique<Counter>()};
  return *slot.metric;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Type::kGauge).gauges[render_labels(labels)];
  if (!slot.metric) slot = {labels, std::make_unique<Gauge>()};
  return *slot.metric;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      const Labels& labels, std::vector<double> upper_bounds) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Type::kHistogram).histograms[render_labels(labels)];
  if (!slot.metric) slot = {labels, std::make_unique<Histogram>(std::move(upper_bounds))};
  return *slot.metric;
}

void MetricsRegistry::add_refresh(std::function<void()> refresh) {
  std::lock_guard lock(mu_);
  refreshes_.push_back(std::move(refresh));
}

void MetricsRegistry::run_refreshes() const {
  std::vector<std::function<void()>> refreshes;
  {
    std::lock_guard lock(mu_);
    refreshes = refreshes_;
  }
  for (const auto& refresh : refreshes) refresh();
}

void MetricsRegistry::for_each(const std::function<void(const SeriesView&)>& visit) const {
  run_refreshes();
  std::lock_guard lock(mu_);
  for (const auto& [name, f] : families_) {
    for (const auto& [key, series] : f.counters) {
      visit(
          {name, f.help, Type::kCounter, &series.labels, key, series.metric->value(), 0, nullptr});
    }
    for (const auto& [key, series] : f.gauges) {
      visit({name, f.help, Type::kGauge, &series.labels, key, 0, series.metric->value(), nullptr});
    }
    for (const auto& [key, series] : f.histograms) {
      const Histogram::Snapshot snapshot = series.metric->snapshot();
      visit({name, f.help, Type::kHistogram, &series.labels, key, 0, 0, &snapshot});
    }
  }
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::string_view last_family;
  for_each([&](const SeriesView& s) {
    if (s.name != last_family) {
      out += "# HELP " + std::string(s.name) + " " + std::string(s.help) + "\n";
      out += "# TYPE " + std::string(s.name) + " " + type_name(s.type) + "\n";
      last_family = s.name;
    }
    const std::string labels(s.rendered_labels);
    switch (s.type) {
      case Type::kCounter:
        out += std::string(s.name) + labels + " " + std::to_string(s.counter) + "\n";
        break;
      case Type::kGauge:
        out += std::string(s.name) + labels + " " + std::to_string(s.gauge) + "\n";
        break;
      case Type::kHistogram:
        render_histogram(out, s.name, labels, *s.histogram);
        break;
    }
  });
  return out;
}

}  // namespace imgflow::core
