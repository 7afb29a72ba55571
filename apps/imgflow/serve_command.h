#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gateway/policy.h"
#include "gateway/tls.h"

namespace imgflow::cli {

// `imgflow serve [--listen HOST:PORT] [--data-dir DIR] [--config F]`, as parsed.
struct ServeOptions {
  std::string listen = "127.0.0.1:9000";  // port 0 picks a free port (printed in the banner)
  std::filesystem::path data_dir = "./imgflow-data";
  std::filesystem::path config;           // empty: the built-in default recipe
  std::vector<std::string> cors_origins;  // browser origins allowed to upload; empty: no CORS
  // "BUCKET[/PREFIX]" anyone may GET and HEAD (the destination only); "" = nothing public.
  std::string public_read;
  gateway::TlsFiles tls;  // both set: HTTPS only; neither: plain HTTP
  // Concurrent function invocations; -1: two per core, as many as the memory holds at the
  // recipe's limits.max_memory each; 0: none — the gateway only records events, for a
  // deployment whose workers run elsewhere.
  int workers = -1;
  std::string log_format = "json";  // or "text", for people at a terminal
  // The region SigV4 signatures must name; "" accepts any, so clients configured for another
  // region work unchanged. Events carry it as awsRegion (us-east-1 when "").
  std::string region;
  // Connection and request limits (docs/security.md); unset: sized for this machine.
  std::optional<std::size_t> max_connections;
  std::optional<std::size_t> reserved_connections;    // for probes and signed requests
  std::optional<std::size_t> max_connections_per_ip;  // 0: no limit
  std::optional<double> requests_per_second_per_ip;   // anonymous requests; 0: no limit
  std::optional<double> header_timeout_seconds;       // a request header's total time
  std::optional<std::uint64_t> min_body_rate;         // bytes/s a body must average; 0: none
  // The anonymous door into the source bucket (docs/security.md, "Anonymous uploads");
  // max_bytes comes from the recipe's limits.max_input_bytes.
  gateway::AnonymousUploads anonymous;
};

// Runs the embedded system until SIGTERM or SIGINT, then drains in-flight requests and returns
// the exit code: 0 after a clean shutdown, 2 for bad usage or configuration (listen address,
// recipe, data dir, credentials). The banner goes to stdout, JSON log lines to stderr.
int run_serve(const ServeOptions& options);

}  // namespace imgflow::cli
