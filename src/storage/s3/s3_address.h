#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

// Where an S3 request goes: the endpoint, and for a bucket and key the Host header and the
// path, virtual-hosted or path-style. One place for S3Store, the Lambda upload endpoint and
// `imgflow presign`, so a URL that one signs is the URL another would send.
namespace imgflow::storage::s3 {

// "scheme://host[:port][/base]".
struct S3Endpoint {
  std::string scheme;     // "http" or "https"
  std::string host;       // host[:port], as it goes in the Host header
  std::string base_path;  // "" or "/base" without a trailing '/': a proxy's mount point
};

// Parses an endpoint URL; "" is AWS S3 in `region` ("https://s3.<region>.amazonaws.com").
// kInvalidArgument, quoting the URL, for another scheme, no host, or a '?', '#', '@' or space.
core::Result<S3Endpoint> parse_s3_endpoint(std::string_view url, std::string_view region);

// A request's Host header and percent-encoded path ("/" for none).
struct S3Target {
  std::string host;
  std::string path;
};

// Virtual-hosted (<bucket>.<host>/<key>) unless `path_style`, there is no bucket, or the bucket
// has a '.' (TLS wildcard certificates cover one label); otherwise <host>/<bucket>/<key>. The
// key is percent-encoded as SigV4 canonicalises it ('/' kept).
S3Target s3_target(const S3Endpoint& endpoint, bool path_style, std::string_view bucket,
                   std::string_view key);

// scheme://host/path[?query]: what an HTTP client fetches for `target`.
std::string s3_url(const S3Endpoint& endpoint, const S3Target& target, std::string_view query);

}  // namespace imgflow::storage::s3
