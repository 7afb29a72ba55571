#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// A small metrics registry rendered in the Prometheus text format (version 0.0.4). Modules
// record into series they looked up once; /_imgflow/metrics renders the lot. Recording is
// lock-free (atomics); looking up a series and rendering take a mutex.
namespace imgflow::core {

// Label pairs in the order they are rendered, e.g. {{"stage", "fetch"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  // Sets the gauge to `v` if that is higher: a high-water mark, race-free between threads.
  void raise_to(std::int64_t v) {
    std::int64_t seen = value_.load(std::memory_order_relaxed);
    while (seen < v && !value_.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
    }
  }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Cumulative buckets with fixed upper bounds, as Prometheus histograms are. Values are kept in
// micro-units (a duration in seconds is observed with microsecond resolution) so the sum stays
// an exact integer.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // not cumulative; last = +Inf
  std::atomic<std::uint64_t> sum_micros_{0};
};

// Bucket bounds in seconds for work from a millisecond to a minute.
std::vector<double> duration_buckets();

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The series `name{labels}`, created on first use. References stay valid for the registry's
  // lifetime. A name keeps the help text and type of its first registration; asking for a
  // name under another type is a programming error (std::logic_error).
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                       std::vector<double> upper_bounds = duration_buckets());

  // Runs `refresh` before every render() and for_each(), outside the registry's lock (it may
  // look series up): for gauges whose value lives elsewhere and is cheap to read at that moment,
  // such as the events waiting in the outbox.
  void add_refresh(std::function<void()> refresh);

  // Every family in name order, series in label order, in the Prometheus text format.
  std::string render() const;

  enum class Type { kCounter, kGauge, kHistogram };

  // One series as a renderer sees it; valid during the visit only.
  struct SeriesView {
    std::string_view name;
    std::string_view help;
    Type type = Type::kCounter;
    const Labels* labels = nullptr;
    std::string_view rendered_labels;  // `{a="x"}`, "" without labels: a stable series key
    std::uint64_t counter = 0;         // kCounter
    std::int64_t gauge = 0;            // kGauge
    const Histogram::Snapshot* histogram = nullptr;  // kHistogram
  };

  // Calls `visit` for every series, in render() order, under the registry's lock (so `visit`
  // must not call back into the registry). For renderers other than Prometheus (EMF).
  void for_each(const std::function<void(const SeriesView&)>& visit) const;

 private:
  template <typename Metric>
  struct Series {
    Labels labels;
    std::unique_ptr<Metric> metric;
  };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::map<std::string, Series<Counter>> counters;  // key: rendered labels
    std::map<std::string, Series<Gauge>> gauges;
    std::map<std::string, Series<Histogram>> histograms;
  };
  Family& family(std::string_view name, std::string_view help, Type type);
  static const char* type_name(Type type);

  void run_refreshes() const;

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::vector<std::function<void()>> refreshes_;  // guarded by mu_
};

// `{a="x",b="y"}` with Prometheus escaping; "" for no labels.
std::string render_labels(const Labels& labels);

}  // namespace imgflow::core
