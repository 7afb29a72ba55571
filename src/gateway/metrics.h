#pragma once

#include <cstdint>
#include <string_view>

#include "core/metrics.h"

namespace imgflow::gateway {

// The gateway's counters and gauges, registered in the process's core::MetricsRegistry (which
// renders /_imgflow/metrics). Safe to update from any thread.
class Metrics {
 public:
  explicit Metrics(core::MetricsRegistry& registry);

  void record_request(int status, std::uint64_t bytes_in, std::uint64_t bytes_out);
  void connection_opened() { connections_.add(1); }
  void connection_closed() { connections_.add(-1); }
  // A connection refused on accept: "capacity" (every slot taken), "per_ip" (its address's
  // slots taken) or "threads" (no thread could be started for it).
  void connection_refused(std::string_view reason);
  // A request refused by a limit once its header arrived: "rate" (its address's request rate)
  // or "reserved" (an anonymous request on a connection from the reserve).
  void request_refused(std::string_view reason);
  // A connection cut at a deadline: "header", "body" (too slow or silent) or "response".
  void deadline_expired(std::string_view phase);
  // A TLS handshake that failed or timed out (a client that distrusts the certificate, speaks
  // plain HTTP to the HTTPS port, offers only old versions, or never finishes).
  void tls_handshake_failed() { tls_handshake_failures_.add(); }
  // The connection budget, for the gauges: the shared pool and the reserve.
  void set_connection_slots(std::uint64_t shared, std::uint64_t reserved);

 private:
  core::MetricsRegistry& registry_;
  core::Counter& bytes_in_;
  core::Counter& bytes_out_;
  core::Gauge& connections_;
  core::Counter& tls_handshake_failures_;
  core::Gauge& shared_slots_;
  core::Gauge& reserved_slots_;
};

}  // namespace imgflow::gateway
