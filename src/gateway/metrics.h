#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace imgflow::gateway {

// The gateway's counters, rendered in the Prometheus text format for /_imgflow/metrics.
// Safe to update and render from any thread.
class Metrics {
 public:
  void record_request(int status, std::uint64_t bytes_in, std::uint64_t bytes_out);
  void connection_opened() { ++connections_; }
  void connection_closed() { --connections_; }
  void connection_refused() { ++refused_; }
  std::string text() const;

 private:
  mutable std::mutex mu_;
  std::map<int, std::uint64_t> requests_by_status_;
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace imgflow::gateway
