#pragma once

// The description of one S3 request that S3Store's operations fill in and execute() signs and
// sends. Internal to storage/s3.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/http_client.h"
#include "storage/object_store.h"
#include "storage/s3/s3_error.h"
#include "storage/s3/s3_store.h"

namespace imgflow::storage::s3 {

// One S3 operation, before signing.
struct S3Store::Call {
  std::string method = "GET";
  Target target = Target::kObject;
  std::string bucket{};  // empty: a service-level call (ListBuckets)
  std::string key{};     // empty: a bucket-level call
  std::vector<std::pair<std::string, std::string>> query{};  // decoded; an empty value sends "k"
  std::vector<http::Header> headers{};
  std::optional<std::string_view> body{};  // in memory: signed SHA-256, retryable
  ByteSource* stream = nullptr;            // streamed: UNSIGNED-PAYLOAD, never retried
  std::string_view stream_prefix{};        // bytes already read from `stream`, sent first
  std::optional<std::uint64_t> stream_length{};
  bool idempotent = true;
  bool embedded_error = false;  // 200 OK may still carry <Error> (CopyObject, Complete...)
};

}  // namespace imgflow::storage::s3
