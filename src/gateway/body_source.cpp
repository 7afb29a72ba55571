#include "gateway/body_source.h"

namespace imgflow::gateway {
namespace {

constexpr std::size_t kRawChunk = 64 * 1024;

}  // namespace

sigv4::AuthResult<std::unique_ptr<AuthenticatedBody>> AuthenticatedBody::wrap(
    storage::ByteSource& raw, const std::optional<sigv4::VerifiedRequest>& verified,
    const std::optional<UnsignedChunkedBody>& unsigned_chunked) {
  std::unique_ptr<AuthenticatedBody> body(new AuthenticatedBody(raw));
  if (unsigned_chunked) {
    sigv4::ChunkedParams params;
    params.mode = sigv4::PayloadMode::kStreamingUnsignedTrailer;
    params.decoded_content_length = unsigned_chunked->decoded_length;
    params.trailer = unsigned_chunked->trailer;
    auto decoder = sigv4::ChunkedDecoder::create(std::move(params));
    if (!decoder) return tl::unexpected(decoder.error());
    body->decoder_.emplace(std::move(*decoder));
    return body;
  }
  if (!verified) return body;
  switch (verified->payload_mode) {
    case sigv4::PayloadMode::kUnsigned:
      break;
    case sigv4::PayloadMode::kSha256:
      body->verified_copy_ = *verified;
      body->verified_ = &*body->verified_copy_;
      body->hasher_.emplace();
      break;
    default: {
      auto decoder = sigv4::ChunkedDecoder::create(*verified);
      if (!decoder) return tl::unexpected(decoder.error());
      body->decoder_.emplace(std::move(*decoder));
    }
  }
  return body;
}

core::Result<std::size_t> AuthenticatedBody::fail_auth(sigv4::AuthError error) {
  core::Error core_error = error.to_core_error();
  auth_error_ = std::move(error);
  return core::fail(std::move(core_error));
}

core::Result<std::size_t> AuthenticatedBody::read(char* buf, std::size_t n) {
  if (auth_error_) return core::fail(auth_error_->to_core_error());
  if (decoder_) return read_chunked(buf, n);
  if (hasher_) return read_hashed(buf, n);
  return raw_.read(buf, n);
}

core::Result<std::size_t> AuthenticatedBody::read_hashed(char* buf, std::size_t n) {
  auto got = raw_.read(buf, n);
  if (!got) return got;
  if (*got > 0) {
    hasher_->update(std::string_view(buf, *got));
    return got;
  }
  // End of body: the last chance to refuse before the store commits.
  if (auto ok = sigv4::check_payload_sha256(*verified_, hasher_->finish()); !ok) {
    hasher_.reset();
    return fail_auth(ok.error());
  }
  hasher_.reset();
  verified_ = nullptr;
  return std::size_t{0};
}

core::Result<std::size_t> AuthenticatedBody::read_chunked(char* buf, std::size_t n) {
  while (pending_pos_ == pending_.size()) {
    pending_.clear();
    pending_pos_ = 0;
    if (raw_done_) return std::size_t{0};
    std::string raw(kRawChunk, '\0');
    auto got = raw_.read(raw.data(), raw.size());
    if (!got) return got;
    if (*got == 0) {
      raw_done_ = true;
      if (auto ok = decoder_->finish(); !ok) return fail_auth(ok.error());
      return std::size_t{0};
    }
    auto fed = decoder_->feed(std::string_view(raw.data(), *got),
                              [this](std::string_view decoded) { pending_.append(decoded); });
    if (!fed) return fail_auth(fed.error());
  }
  const std::size_t take = std::min(n, pending_.size() - pending_pos_);
  pending_.copy(buf, take, pending_pos_);
  pending_pos_ += take;
  return take;
}

core::Result<std::string> read_all(storage::ByteSource& body, std::size_t max_bytes) {
  std::string out;
  char buf[16 * 1024];
  for (;;) {
    auto got = body.read(buf, sizeof buf);
    if (!got) return core::fail(got.error());
    if (*got == 0) return out;
    if (out.size() + *got > max_bytes) {
      return core::fail(core::ErrorCode::kTooLarge, "request body is too large");
    }
    out.append(buf, *got);
  }
}

}  // namespace imgflow::gateway
