#include "storage/s3/s3_address.h"

#include "core/codec.h"

namespace imgflow::storage::s3 {

core::Result<S3Endpoint> parse_s3_endpoint(std::string_view url, std::string_view region) {
  const std::string text =
      url.empty() ? "https://s3." + std::string(region) + ".amazonaws.com" : std::string(url);
  const auto refuse = [&] {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "an S3 endpoint must be http(s)://host[:port][/path], not \"" + text + "\"");
  };
  const std::size_t sep = text.find("://");
  if (sep == std::string::npos) return refuse();
  S3Endpoint endpoint;
  endpoint.scheme = core::to_lower(text.substr(0, sep));
  if (endpoint.scheme != "http" && endpoint.scheme != "https") return refuse();
  const std::string_view rest = std::string_view(text).substr(sep + 3);
  const std::size_t slash = rest.find('/');
  endpoint.host = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) endpoint.base_path = std::string(rest.substr(slash));
  while (endpoint.base_path.ends_with('/')) endpoint.base_path.pop_back();
  if (endpoint.host.empty() || endpoint.host.find_first_of("?#@ ") != std::string::npos ||
      endpoint.base_path.find_first_of("?# ") != std::string::npos) {
    return refuse();
  }
  return endpoint;
}

S3Target s3_target(const S3Endpoint& endpoint, bool path_style, std::string_view bucket,
                   std::string_view key) {
  const bool virtual_host =
      !path_style && !bucket.empty() && bucket.find('.') == std::string_view::npos;
  S3Target target;
  target.host = virtual_host ? std::string(bucket) + "." + endpoint.host : endpoint.host;
  target.path = endpoint.base_path + "/";
  if (!bucket.empty() && !virtual_host) target.path += core::uri_encode(bucket, false);
  if (!key.empty()) {
    if (!virtual_host) target.path += '/';
    target.path += core::uri_encode(key, true);
  }
  return target;
}

std::string s3_url(const S3Endpoint& endpoint, const S3Target& target, std::string_view query) {
  std::string url = endpoint.scheme + "://" + target.host + target.path;
  if (!query.empty()) url.append("?").append(query);
  return url;
}

}  // namespace imgflow::storage::s3
