#pragma once

#include <string>
#include <string_view>

#include "core/digest.h"
#include "sigv4/credential_scope.h"

namespace imgflow::sigv4 {

// "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" previous "\n" hex(sha256("")) "\n"
// hex(sha256(chunk)), given the chunk's digest (so callers can hash while streaming).
std::string chunk_string_to_sign(std::string_view amz_date, std::string_view scope,
                                 std::string_view previous_signature,
                                 const core::Sha256Digest& chunk_sha256);

// "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" previous "\n" hex(sha256(trailer_lines)),
// where trailer_lines is "name:value\n" for each trailing header.
std::string trailer_string_to_sign(std::string_view amz_date, std::string_view scope,
                                   std::string_view previous_signature,
                                   std::string_view trailer_lines);

// Client side of STREAMING-AWS4-HMAC-SHA256-PAYLOAD: frames each chunk with its signature,
// chaining from the seed signature of the request. Not thread-safe (the chain is sequential).
class ChunkSigner {
 public:
  ChunkSigner(const core::Sha256Digest& signing_key, std::string amz_date,
              const CredentialScope& scope, std::string seed_signature);

  // Signs the next chunk (pass empty data for the final chunk) and returns its signature.
  std::string sign(std::string_view data);

  // "<hex size>;chunk-signature=<sig>\r\n<data>\r\n" for the next chunk.
  std::string frame(std::string_view data);

  // Signs trailing header lines ("name:value\n"...) after the final chunk.
  std::string sign_trailer(std::string_view trailer_lines);

 private:
  core::Sha256Digest key_;
  std::string amz_date_;
  std::string scope_;
  std::string previous_;
};

}  // namespace imgflow::sigv4
