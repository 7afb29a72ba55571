#include "gateway/metrics.h"

#include <string>

namespace imgflow::gateway {
namespace {

core::Gauge& connection_slots(core::MetricsRegistry& registry, const char* pool) {
  return registry.gauge("imgflow_http_connection_slots",
                        "Connections the server holds at most, by pool.", {{"pool", pool}});
}

}  // namespace

Metrics::Metrics(core::MetricsRegistry& registry)
    : registry_(registry),
      bytes_in_(
          registry.counter("imgflow_http_request_body_bytes_total", "Request body bytes read.")),
      bytes_out_(registry.counter("imgflow_http_response_body_bytes_total",
                                  "Response body bytes written.")),
      connections_(registry.gauge("imgflow_http_connections", "Open client connections.")),
      tls_handshake_failures_(registry.counter("imgflow_tls_handshake_failures_total",
                                               "TLS handshakes that failed or timed out.")),
      shared_slots_(connection_slots(registry, "shared")),
      reserved_slots_(connection_slots(registry, "reserved")) {}

void Metrics::record_request(int status, std::uint64_t bytes_in, std::uint64_t bytes_out) {
  bytes_in_.add(bytes_in);
  bytes_out_.add(bytes_out);
  registry_
      .counter("imgflow_http_requests_total", "HTTP requests answered, by status code.",
               {{"status", std::to_string(status)}})
      .add();
}

void Metrics::connection_refused(std::string_view reason) {
  registry_
      .counter("imgflow_http_connections_refused_total",
               "Connections refused on accept, by the limit that refused them.",
               {{"reason", std::string(reason)}})
      .add();
}

void Metrics::request_refused(std::string_view reason) {
  registry_
      .counter("imgflow_http_requests_refused_total",
               "Requests refused by a limit once their header arrived (503 SlowDown).",
               {{"reason", std::string(reason)}})
      .add();
}

void Metrics::deadline_expired(std::string_view phase) {
  registry_
      .counter("imgflow_http_deadlines_expired_total",
               "Connections cut at a deadline, by what they were doing.",
               {{"phase", std::string(phase)}})
      .add();
}

void Metrics::set_connection_slots(std::uint64_t shared, std::uint64_t reserved) {
  shared_slots_.set(static_cast<std::int64_t>(shared));
  reserved_slots_.set(static_cast<std::int64_t>(reserved));
}

}  // namespace imgflow::gateway
