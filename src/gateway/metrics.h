#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace imgflow::gateway {

// The gateway's counters, rendered in the Prometheus text format for /_imgflow/metrics.
// Safe to update and render from any thread.
class Metrics {
 public:
  void record_request(int status, std::uint64_t bytes_in, std::uint64_t bytes_out);
  void connection_opened() { ++connections_; }
  void connection_closed() { --connections_; }
  // A connection refused on accept: "capacity" (every slot taken), "per_ip" (its address's
  // slots taken) or "threads" (no thread could be started for it).
  void connection_refused(std::string_view reason);
  // A request refused by a limit once its header arrived: "rate" (its address's request rate)
  // or "reserved" (an anonymous request on a connection from the reserve).
  void request_refused(std::string_view reason);
  // A connection cut at a deadline: "header", "body" (too slow or silent) or "response".
  void deadline_expired(std::string_view phase);
  // The connection budget, for the gauges: the shared pool and the reserve.
  void set_connection_slots(std::uint64_t shared, std::uint64_t reserved);
  std::string text() const;

 private:
  mutable std::mutex mu_;
  std::map<int, std::uint64_t> requests_by_status_;                        // guarded by mu_
  std::map<std::string, std::uint64_t, std::less<>> connections_refused_;  // guarded by mu_
  std::map<std::string, std::uint64_t, std::less<>> requests_refused_;     // guarded by mu_
  std::map<std::string, std::uint64_t, std::less<>> deadlines_expired_;    // guarded by mu_
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> shared_slots_{0};
  std::atomic<std::uint64_t> reserved_slots_{0};
};

}  // namespace imgflow::gateway
