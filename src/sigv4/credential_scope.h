#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imgflow::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kTerminator = "aws4_request";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayloadTrailer =
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedPayloadTrailer =
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
// Hex SHA-256 of the empty string.
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// date/region/service/aws4_request: what a signing key is derived for.
struct CredentialScope {
  std::string date;  // YYYYMMDD
  std::string region;
  std::string service;

  std::string to_string() const;
  bool operator==(const CredentialScope&) const = default;
};

// A parsed "AKID/20150830/us-east-1/s3/aws4_request".
struct Credential {
  std::string access_key_id;
  CredentialScope scope;
};

// nullopt unless there are exactly five non-empty '/'-separated parts, the date is eight digits
// and the last part is "aws4_request".
std::optional<Credential> parse_credential(std::string_view text);

}  // namespace imgflow::sigv4
