#include "sigv4/canonical_request.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/codec.h"
#include "core/digest.h"
#include "http/request_head.h"

namespace imgflow::sigv4 {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// RFC 3986 dot-segment removal plus collapsing of empty segments, on a decoded path.
std::string normalize(std::string_view path) {
  std::vector<std::string_view> segments;
  bool trailing_slash = false;
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    path = last ? std::string_view() : path.substr(slash + 1);
    trailing_slash = !last || segment == "." || segment == "..";
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string out;
  for (std::string_view s : segments) out.append("/").append(s);
  if (out.empty() || trailing_slash) out.push_back('/');
  return out;
}

}  // namespace

std::string canonical_uri(std::string_view raw_path, const CanonicalOptions& options) {
  if (raw_path.empty()) return "/";
  std::string decoded = core::percent_decode(raw_path, false);
  if (options.normalize_path) decoded = normalize(decoded);
  return core::uri_encode(decoded, true);
}

std::string canonical_query(std::string_view raw_query, std::string_view exclude_key) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (http::QueryParam& p : http::parse_query(raw_query)) {
    if (!exclude_key.empty() && p.key == exclude_key) continue;
    pairs.emplace_back(core::uri_encode(p.key, false), core::uri_encode(p.value, false));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out.push_back('&');
    out.append(key).append("=").append(value);
  }
  return out;
}

std::string canonical_header_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_blank = false;
  for (char c : value) {
    if (is_blank(c)) {
      pending_blank = !out.empty();
      continue;
    }
    if (pending_blank) out.push_back(' ');
    pending_blank = false;
    out.push_back(c);
  }
  return out;
}

std::string canonical_headers(const http::RequestHead& request,
                              std::span<const std::string> signed_names) {
  std::string out;
  for (const std::string& name : signed_names) {
    out.append(name).push_back(':');
    bool first = true;
    for (std::string_view value : http::header_values(request, name)) {
      if (!first) out.push_back(',');
      first = false;
      out.append(canonical_header_value(value));
    }
    out.push_back('\n');
  }
  return out;
}

std::string join_signed_headers(std::span<const std::string> signed_names) {
  std::string out;
  for (const std::string& name : signed_names) {
    if (!out.empty()) out.push_back(';');
    out.append(name);
  }
  return out;
}

std::string canonical_request(const http::RequestHead& request,
                              std::span<const std::string> signed_names,
                              std::string_view payload_hash, const CanonicalOptions& options,
                              std::string_view exclude_query_key) {
  std::string out;
  out.append(request.method).push_back('\n');
  out.append(canonical_uri(request.path, options)).push_back('\n');
  out.append(canonical_query(request.query, exclude_query_key)).push_back('\n');
  out.append(canonical_headers(request, signed_names)).push_back('\n');
  out.append(join_signed_headers(signed_names)).push_back('\n');
  out.append(payload_hash);
  return out;
}

std::string string_to_sign(std::string_view amz_date, const CredentialScope& scope,
                           std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out.push_back('\n');
  out.append(amz_date).push_back('\n');
  out.append(scope.to_string()).push_back('\n');
  out.append(core::to_hex(core::sha256(canonical_request)));
  return out;
}

}  // namespace imgflow::sigv4
