#include "gateway/metrics.h"

namespace imgflow::gateway {

void Metrics::record_request(int status, std::uint64_t bytes_in, std::uint64_t bytes_out) {
  bytes_in_ += bytes_in;
  bytes_out_ += bytes_out;
  std::lock_guard lock(mu_);
  ++requests_by_status_[status];
}

std::string Metrics::text() const {
  std::string out =
      "# HELP imgflow_http_requests_total HTTP requests answered, by status code.\n"
      "# TYPE imgflow_http_requests_total counter\n";
  {
    std::lock_guard lock(mu_);
    for (const auto& [status, count] : requests_by_status_) {
      out += "imgflow_http_requests_total{status=\"" + std::to_string(status) + "\"} " +
             std::to_string(count) + "\n";
    }
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
      "# HELP imgflow_http_connections_refused_total Connections refused at the limit.\n"
      "# TYPE imgflow_http_connections_refused_total counter\n"
      "imgflow_http_connections_refused_total " +
      std::to_string(refused_.load()) + "\n";
  return out;
}

}  // namespace imgflow::gateway
