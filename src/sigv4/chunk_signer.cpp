#include "sigv4/chunk_signer.h"

#include <cstdio>

#include "sigv4/signing_key.h"

namespace imgflow::sigv4 {
namespace {

std::string hex_size(std::size_t size) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%zx", size);
  return buf;
}

}  // namespace

std::string chunk_string_to_sign(std::string_view amz_date, std::string_view scope,
                                 std::string_view previous_signature,
                                 const core::Sha256Digest& chunk_sha256) {
  std::string out = "AWS4-HMAC-SHA256-PAYLOAD\n";
  out.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  out.append("\n").append(kEmptySha256).append("\n").append(core::to_hex(chunk_sha256));
  return out;
}

std::string trailer_string_to_sign(std::string_view amz_date, std::string_view scope,
                                   std::string_view previous_signature,
                                   std::string_view trailer_lines) {
  std::string out = "AWS4-HMAC-SHA256-TRAILER\n";
  out.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  out.append("\n").append(core::to_hex(core::sha256(trailer_lines)));
  return out;
}

ChunkSigner::ChunkSigner(const core::Sha256Digest& signing_key, std::string amz_date,
                         const CredentialScope& scope, std::string seed_signature)
    : key_(signing_key),
      amz_date_(std::move(amz_date)),
      scope_(scope.to_string()),
      previous_(std::move(seed_signature)) {}

std::string ChunkSigner::sign(std::string_view data) {
  previous_ =
      sign_string(key_, chunk_string_to_sign(amz_date_, scope_, previous_, core::sha256(data)));
  return previous_;
}

std::string ChunkSigner::frame(std::string_view data) {
  std::string out = hex_size(data.size());
  out.append(";chunk-signature=").append(sign(data)).append("\r\n");
  out.append(data).append("\r\n");
  return out;
}

std::string ChunkSigner::sign_trailer(std::string_view trailer_lines) {
  previous_ =
      sign_string(key_, trailer_string_to_sign(amz_date_, scope_, previous_, trailer_lines));
  return previous_;
}

}  // namespace imgflow::sigv4
