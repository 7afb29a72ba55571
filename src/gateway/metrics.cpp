#include "gateway/metrics.h"

namespace imgflow::gateway {
namespace {

void count(std::map<std::string, std::uint64_t, std::less<>>& counts, std::string_view key) {
  auto it = counts.find(key);
  if (it == counts.end()) it = counts.emplace(std::string(key), 0).first;
  ++it->second;
}

// One labelled counter family: its HELP and TYPE lines and a sample per label value.
void render_family(std::string& out, std::string_view name, std::string_view help,
                   std::string_view label,
                   const std::map<std::string, std::uint64_t, std::less<>>& counts) {
  out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
  out += "# TYPE " + std::string(name) + " counter\n";
  for (const auto& [value, n] : counts) {
    out += std::string(name) + "{" + std::string(label) + "=\"" + value + "\"} " +
           std::to_string(n) + "\n";
  }
}

}  // namespace

void Metrics::record_request(int status, std::uint64_t bytes_in, std::uint64_t bytes_out) {
  bytes_in_ += bytes_in;
  bytes_out_ += bytes_out;
  std::lock_guard lock(mu_);
  ++requests_by_status_[status];
}

void Metrics::connection_refused(std::string_view reason) {
  std::lock_guard lock(mu_);
  count(connections_refused_, reason);
}

void Metrics::request_refused(std::string_view reason) {
  std::lock_guard lock(mu_);
  count(requests_refused_, reason);
}

void Metrics::deadline_expired(std::string_view phase) {
  std::lock_guard lock(mu_);
  count(deadlines_expired_, phase);
}

void Metrics::set_connection_slots(std::uint64_t shared, std::uint64_t reserved) {
  shared_slots_ = shared;
  reserved_slots_ = reserved;
}

std::string Metrics::text() const {
  std::string out =
      "# HELP imgflow_http_requests_total HTTP requests answered, by status code.\n"
      "# TYPE imgflow_http_requests_total counter\n";
  std::lock_guard lock(mu_);
  for (const auto& [status, n] : requests_by_status_) {
    out += "imgflow_http_requests_total{status=\"" + std::to_string(status) + "\"} " +
           std::to_string(n) + "\n";
  }
  out +=
      "# HELP imgflow_http_request_body_bytes_total Request body bytes read.\n"
      "# TYPE imgflow_http_request_body_bytes_total counter\n"
      "imgflow_http_request_body_bytes_total " +
      std::to_string(bytes_in_.load()) + "\n";
  out +=
      "# HELP imgflow_http_response_body_bytes_total Response body bytes written.\n"
      "# TYPE imgflow_http_response_body_bytes_total counter\n"
      "imgflow_http_response_body_bytes_total " +
      std::to_string(bytes_out_.load()) + "\n";
  out +=
      "# HELP imgflow_http_connections Open client connections.\n"
      "# TYPE imgflow_http_connections gauge\n"
      "imgflow_http_connections " +
      std::to_string(connections_.load()) + "\n";
  out +=
      "# HELP imgflow_http_connection_slots Connections the server holds at most, by pool.\n"
      "# TYPE imgflow_http_connection_slots gauge\n"
      "imgflow_http_connection_slots{pool=\"shared\"} " +
      std::to_string(shared_slots_.load()) +
      "\n"
      "imgflow_http_connection_slots{pool=\"reserved\"} " +
      std::to_string(reserved_slots_.load()) + "\n";
  render_family(out, "imgflow_http_connections_refused_total",
                "Connections refused on accept, by the limit that refused them.", "reason",
                connections_refused_);
  render_family(out, "imgflow_http_requests_refused_total",
                "Requests refused by a limit once their header arrived (503 SlowDown).", "reason",
                requests_refused_);
  render_family(out, "imgflow_http_deadlines_expired_total",
                "Connections cut at a deadline, by what they were doing.", "phase",
                deadlines_expired_);
  return out;
}

}  // namespace imgflow::gateway
