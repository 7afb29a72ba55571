#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace imgflow::cli {

// `imgflow presign get|put|post s3://BUCKET/KEY`, as parsed.
struct PresignOptions {
  std::string method;           // "get", "put" or "post"
  std::string target;           // s3://BUCKET/KEY
  std::string expires = "15m";  // 30s, 15m, 2h, 7d or plain seconds; 1 s .. 7 days
  std::string endpoint;         // "" = AWS_ENDPOINT_URL_S3, …, the data dir's server, AWS
  std::string region;           // "" = AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
  std::string content_type;     // put: signed (must be sent); post: required in the form
  std::uint64_t max_size = 0;   // post: content-length-range 1..max_size; 0 = no limit
  bool json = false;            // get, put: {"method","url","headers","expires_in"}
  std::filesystem::path data_dir = "./imgflow-data";
};

// Prints a presigned URL (get, put) or a signed POST form as JSON (post) for one object, signed
// with the credentials of the environment or the data dir; nothing is sent. Returns 0, or 2 for
// bad usage, no credentials or a bad endpoint.
int run_presign(const PresignOptions& options);

}  // namespace imgflow::cli
