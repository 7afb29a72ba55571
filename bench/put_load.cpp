// put_load: a closed-loop PUT load generator for the gateway benchmark (bench/run-gateway).
//
//   put_load [--keys N] HOST:PORT BODY_FILE CONNECTIONS SECONDS [PATH_PREFIX]
//
// Each connection is one thread with one keep-alive socket that sends anonymous PutObject
// requests back to back, each to a fresh key (PATH_PREFIX<connection>-<n>.jpg, default
// /uploads/bench/), and waits for the response before the next. With --keys N a connection
// cycles through N keys, overwriting, so a long soak's data stays bounded on disk. The body is read
// once and sent from the same buffer every time (writev of header + body), so the client's cost per
// request is the kernel's copy, not building a request: wrk's Lua `request()` path builds a
// new string holding the whole body for every request, which for 5 MB bodies on a two-core
// machine costs the server a noticeable share of its CPU.
//
// Prints one JSON object: requests, errors, seconds, rate, and latency percentiles in ms.
// Exits non-zero if any request failed (the first failure's status line is printed).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  sockaddr_in address{};
  std::string host_header;
  std::string path_prefix;
  long keys_per_connection = 0;  // 0: every request a fresh key
};

struct ConnectionResult {
  std::vector<double> latencies_ms;
  long errors = 0;
  std::string first_error;
};

std::optional<Target> parse_target(const std::string& host_port, std::string prefix) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  Target target;
  target.address.sin_family = AF_INET;
  target.address.sin_port =
      htons(static_cast<std::uint16_t>(std::stoi(host_port.substr(colon + 1))));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &target.address.sin_addr) != 1) {
    return std::nullopt;
  }
  target.host_header = host_port;
  target.path_prefix = std::move(prefix);
  return target;
}

int connect_to(const Target& target) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.address), sizeof target.address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& header, const std::string& body) {
  iovec parts[2] = {{const_cast<char*>(header.data()), header.size()},
                    {const_cast<char*>(body.data()), body.size()}};
  iovec* next = parts;
  int left = 2;
  while (left > 0) {
    const ssize_t sent = writev(fd, next, left);
    if (sent <= 0) return false;
    auto done = static_cast<std::size_t>(sent);
    while (left > 0 && done >= next->iov_len) {
      done -= next->iov_len;
      ++next;
      --left;
    }
    if (left > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + done;
      next->iov_len -= done;
    }
  }
  return true;
}

// Reads one response; returns its status line, or "" when the connection failed. The gateway
// answers a PUT with a Content-Length, so the body's end is known without chunked parsing.
std::string read_response(int fd, std::string& buffer) {
  std::size_t header_end;
  while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    char chunk[4096];
    const ssize_t got = read(fd, chunk, sizeof chunk);
    if (got <= 0) return "";
    buffer.append(chunk, static_cast<std::size_t>(got));
  }
  std::size_t body_length = 0;
  std::string lower(buffer, 0, header_end);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (const auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
    body_length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
  }
  const std::size_t total = header_end + 4 + body_length;
  while (buffer.size() < total) {
    char chunk[4096];
    const ssize_t got = read(fd, chunk, sizeof chunk);
    if (got <= 0) return "";
    buffer.append(chunk, static_cast<std::size_t>(got));
  }
  std::string status = buffer.substr(0, buffer.find("\r\n"));
  buffer.erase(0, total);
  return status;
}

ConnectionResult run_connection(const Target& target, const std::string& body, int id,
                                Clock::time_point end) {
  ConnectionResult result;
  const int fd = connect_to(target);
  if (fd < 0) {
    result.errors = 1;
    result.first_error = "cannot connect";
    return result;
  }
  std::string buffer;
  for (long n = 0; Clock::now() < end; ++n) {
    const long key = target.keys_per_connection > 0 ? n % target.keys_per_connection : n;
    const std::string header =
        "PUT " + target.path_prefix + std::to_string(id) + "-" + std::to_string(key) +
        ".jpg HTTP/1.1\r\nHost: " + target.host_header +
        "\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n";
    const auto start = Clock::now();
    const std::string status = send_all(fd, header, body) ? read_response(fd, buffer) : "";
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (status.rfind("HTTP/1.1 200", 0) != 0) {
      if (result.errors++ == 0) result.first_error = status.empty() ? "connection closed" : status;
      if (status.empty()) break;
      continue;
    }
    result.latencies_ms.push_back(ms);
  }
  close(fd);
  return result;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index =
      static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  long keys = 0;
  if (argc > 2 && std::string(argv[1]) == "--keys") {
    keys = std::atol(argv[2]);
    argc -= 2;
    argv += 2;
  }
  if (argc < 5) {
    std::fprintf(
        stderr,
        "usage: put_load [--keys N] HOST:PORT BODY_FILE CONNECTIONS SECONDS [PATH_PREFIX]\n");
    return 2;
  }
  auto target = parse_target(argv[1], argc > 5 ? argv[5] : "/uploads/bench/");
  if (!target) {
    std::fprintf(stderr, "put_load: '%s' is not IPv4-ADDRESS:PORT\n", argv[1]);
    return 2;
  }
  target->keys_per_connection = keys;
  std::ifstream file(argv[2], std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "put_load: cannot read %s\n", argv[2]);
    return 2;
  }
  const std::string body{std::istreambuf_iterator<char>(file), {}};
  const int connections = std::atoi(argv[3]);
  const double seconds = std::atof(argv[4]);

  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<ConnectionResult> results(static_cast<std::size_t>(connections));
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back(
        [&, i] { results[static_cast<std::size_t>(i)] = run_connection(*target, body, i, end); });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  long errors = 0;
  std::string first_error;
  for (const auto& r : results) {
    all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    errors += r.errors;
    if (first_error.empty()) first_error = r.first_error;
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "{\"requests\": %zu, \"errors\": %ld, \"seconds\": %.3f, \"rate\": %.2f, \"p50_ms\": %.3f, "
      "\"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
      all.size(), errors, elapsed, static_cast<double>(all.size()) / elapsed, percentile(all, 50),
      percentile(all, 90), percentile(all, 99), all.empty() ? 0.0 : all.back());
  if (errors > 0) {
    std::fprintf(stderr, "put_load: %ld requests failed; first: %s\n", errors, first_error.c_str());
    return 1;
  }
  return 0;
}
