#include "sigv4/chunked_decoder.h"

#include <algorithm>

#include "core/codec.h"
#include "core/digest.h"
#include "sigv4/canonical_request.h"
#include "sigv4/chunk_signer.h"
#include "sigv4/signing_key.h"

namespace imgflow::sigv4 {
namespace {

constexpr std::string_view kChunkSignature = "chunk-signature=";
constexpr std::string_view kTrailerSignature = "x-amz-trailer-signature";
constexpr int kMaxTrailerLines = 8;  // a checksum and a signature; more is an attack or a bug

// 1..16 hex digits (so the value fits 64 bits), nothing else.
std::optional<std::uint64_t> parse_hex_size(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    const int d = core::hex_digit_value(c);
    if (d < 0) return std::nullopt;
    value = value * 16 + static_cast<std::uint64_t>(d);
  }
  return value;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

AuthResult<ChunkedDecoder> ChunkedDecoder::create(ChunkedParams params) {
  if (params.mode != PayloadMode::kStreamingSigned &&
      params.mode != PayloadMode::kStreamingUnsignedTrailer &&
      params.mode != PayloadMode::kStreamingSignedTrailer) {
    return auth_fail(AuthErrorCode::kInvalidRequest, "the payload is not aws-chunked");
  }
  Checksum checksum = Checksum::kNone;
  const std::string& t = params.trailer;
  if (t == "x-amz-checksum-crc32") {
    checksum = Checksum::kCrc32;
  } else if (t == "x-amz-checksum-crc32c") {
    checksum = Checksum::kCrc32c;
  } else if (t == "x-amz-checksum-sha256") {
    checksum = Checksum::kSha256;
  } else if (!t.empty()) {
    return auth_fail(AuthErrorCode::kInvalidRequest,
                     "x-amz-trailer '" + t.substr(0, 64) +
                         "' is not supported; use one of x-amz-checksum-crc32, "
                         "x-amz-checksum-crc32c or x-amz-checksum-sha256");
  }
  if (checksum != Checksum::kNone && params.mode == PayloadMode::kStreamingSigned) {
    return auth_fail(AuthErrorCode::kInvalidRequest,
                     "x-amz-trailer needs a *-TRAILER x-amz-content-sha256 value");
  }
  return ChunkedDecoder(std::move(params), checksum);
}

AuthResult<ChunkedDecoder> ChunkedDecoder::create(const VerifiedRequest& request) {
  ChunkedParams params;
  params.mode = request.payload_mode;
  params.decoded_content_length = request.decoded_content_length.value_or(0);
  params.signing_key = request.signing_key;
  params.amz_date = request.amz_date;
  params.scope = request.scope;
  params.seed_signature = request.signature;
  params.trailer = request.trailer;
  if (!request.decoded_content_length) {
    return auth_fail(AuthErrorCode::kMissingContentLength,
                     "aws-chunked uploads need x-amz-decoded-content-length");
  }
  return create(std::move(params));
}

ChunkedDecoder::ChunkedDecoder(ChunkedParams params, Checksum checksum)
    : params_(std::move(params)),
      scope_(params_.scope.to_string()),
      checksum_(checksum),
      previous_signature_(params_.seed_signature) {
  if (checksum_ == Checksum::kSha256) body_hasher_.emplace();
}

ChunkedDecoder::ChunkedDecoder(ChunkedDecoder&&) noexcept = default;
ChunkedDecoder& ChunkedDecoder::operator=(ChunkedDecoder&&) noexcept = default;
ChunkedDecoder::~ChunkedDecoder() = default;

bool ChunkedDecoder::done() const { return state_ == State::kDone; }

bool ChunkedDecoder::signed_chunks() const {
  return params_.mode != PayloadMode::kStreamingUnsignedTrailer;
}

AuthResult<void> ChunkedDecoder::fail(AuthErrorCode code, std::string message) {
  state_ = State::kFailed;
  error_ = AuthError{code, std::move(message)};
  return tl::unexpected(error_);
}

AuthResult<void> ChunkedDecoder::feed(std::string_view bytes, const Sink& sink) {
  while (!bytes.empty()) {
    switch (state_) {
      case State::kSizeLine:
      case State::kTrailerLine: {
        bool complete = false;
        if (auto ok = take_line(bytes, complete); !ok) return ok;
        if (!complete) break;
        auto ok = state_ == State::kSizeLine ? on_size_line() : on_trailer_line();
        line_.clear();
        if (!ok) return ok;
        break;
      }
      case State::kData: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
        consume_data(bytes.substr(0, n), sink);
        bytes.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
      case State::kDataLf: {
        const char want = state_ == State::kDataCr ? '\r' : '\n';
        if (bytes.front() != want) {
          return fail(AuthErrorCode::kInvalidRequest,
                      "missing CRLF after the data of chunk " + std::to_string(chunk_index_));
        }
        bytes.remove_prefix(1);
        if (state_ == State::kDataCr) {
          state_ = State::kDataLf;
          break;
        }
        core::Sha256Digest digest{};
        if (chunk_hasher_) digest = chunk_hasher_->finish();
        chunk_hasher_.reset();
        if (auto ok = on_chunk_end(digest); !ok) return ok;
        state_ = State::kSizeLine;
        break;
      }
      case State::kDone:
        return fail(AuthErrorCode::kInvalidRequest, "data after the final aws-chunked chunk");
      case State::kFailed:
        return tl::unexpected(error_);
    }
  }
  return state_ == State::kFailed ? tl::unexpected(error_) : AuthResult<void>();
}

AuthResult<void> ChunkedDecoder::finish() {
  if (state_ == State::kFailed) return tl::unexpected(error_);
  if (state_ != State::kDone) {
    return fail(AuthErrorCode::kIncompleteBody,
                "the body ended before the final aws-chunked chunk (" + std::to_string(decoded_) +
                    " of " + std::to_string(params_.decoded_content_length) + " bytes)");
  }
  return {};
}

// Moves bytes up to and including '\n' into line_; `complete` once the line has ended.
AuthResult<void> ChunkedDecoder::take_line(std::string_view& bytes, bool& complete) {
  const std::size_t nl = bytes.find('\n');
  const std::string_view part = bytes.substr(0, nl);
  if (line_.size() + part.size() > kMaxLineBytes) {
    return fail(AuthErrorCode::kInvalidRequest,
                "aws-chunked header line longer than " + std::to_string(kMaxLineBytes) + " bytes");
  }
  line_.append(part);
  if (nl == std::string_view::npos) {
    bytes = {};
    return {};
  }
  bytes.remove_prefix(nl + 1);
  if (line_.empty() || line_.back() != '\r') {
    return fail(AuthErrorCode::kInvalidRequest, "aws-chunked header line not ended by CRLF");
  }
  line_.pop_back();
  complete = true;
  return {};
}

AuthResult<void> ChunkedDecoder::on_size_line() {
  ++chunk_index_;
  const std::size_t semi = line_.find(';');
  const auto size = parse_hex_size(std::string_view(line_).substr(0, semi));
  if (!size) {
    return fail(AuthErrorCode::kInvalidRequest,
                "bad hex chunk size in chunk " + std::to_string(chunk_index_));
  }
  const std::string_view ext =
      semi == std::string::npos ? std::string_view() : std::string_view(line_).substr(semi + 1);
  if (signed_chunks()) {
    if (!ext.starts_with(kChunkSignature) ||
        !core::is_lower_hex(ext.substr(kChunkSignature.size()), 64)) {
      return fail(AuthErrorCode::kInvalidRequest,
                  "chunk " + std::to_string(chunk_index_) + " lacks a valid chunk-signature");
    }
    chunk_signature_ = std::string(ext.substr(kChunkSignature.size()));
  } else if (semi != std::string::npos) {
    return fail(AuthErrorCode::kInvalidRequest,
                "unexpected chunk extension in chunk " + std::to_string(chunk_index_));
  }
  if (*size > params_.decoded_content_length - decoded_) {
    return fail(AuthErrorCode::kIncompleteBody,
                "chunk sizes exceed x-amz-decoded-content-length (" +
                    std::to_string(params_.decoded_content_length) + ")");
  }
  if (*size == 0) {
    if (decoded_ != params_.decoded_content_length) {
      return fail(AuthErrorCode::kIncompleteBody,
                  "size mismatch: decoded " + std::to_string(decoded_) +
                      " bytes but x-amz-decoded-content-length is " +
                      std::to_string(params_.decoded_content_length));
    }
    if (auto ok = on_chunk_end(core::sha256("")); !ok) return ok;
    state_ = State::kTrailerLine;
    return {};
  }
  remaining_ = *size;
  if (signed_chunks()) chunk_hasher_.emplace();
  state_ = State::kData;
  return {};
}

void ChunkedDecoder::consume_data(std::string_view data, const Sink& sink) {
  if (chunk_hasher_) chunk_hasher_->update(data);
  if (checksum_ == Checksum::kCrc32) crc_ = core::crc32(data, crc_);
  if (checksum_ == Checksum::kCrc32c) crc_ = core::crc32c(data, crc_);
  if (body_hasher_) body_hasher_->update(data);
  decoded_ += data.size();
  if (sink && !data.empty()) sink(data);
}

AuthResult<void> ChunkedDecoder::on_chunk_end(const core::Sha256Digest& chunk_sha256) {
  if (!signed_chunks()) return {};
  const std::string expected = sign_string(
      params_.signing_key,
      chunk_string_to_sign(params_.amz_date, scope_, previous_signature_, chunk_sha256));
  if (!core::constant_time_equals(expected, chunk_signature_)) {
    return fail(AuthErrorCode::kSignatureDoesNotMatch,
                "the signature of chunk " + std::to_string(chunk_index_) + " does not match");
  }
  previous_signature_ = expected;
  return {};
}

AuthResult<void> ChunkedDecoder::on_trailer_line() {
  if (line_.empty()) return on_trailer_end();
  if (++trailer_lines_ > kMaxTrailerLines) {
    return fail(AuthErrorCode::kInvalidRequest, "too many aws-chunked trailer lines");
  }
  const std::size_t colon = line_.find(':');
  const std::string name = core::to_lower(std::string_view(line_).substr(0, colon));
  const std::string_view value = colon == std::string::npos
                                     ? std::string_view()
                                     : trim(std::string_view(line_).substr(colon + 1));
  std::string* slot = nullptr;
  if (colon != std::string::npos && !params_.trailer.empty() && name == params_.trailer) {
    slot = &trailer_checksum_;
  } else if (colon != std::string::npos && params_.mode == PayloadMode::kStreamingSignedTrailer &&
             name == kTrailerSignature) {
    slot = &trailer_signature_;
  }
  if (slot == nullptr || !slot->empty() || value.empty()) {
    return fail(AuthErrorCode::kInvalidRequest,
                "unexpected aws-chunked trailer '" + name.substr(0, 64) + "'");
  }
  *slot = std::string(value);
  return {};
}

std::string ChunkedDecoder::expected_checksum() {
  switch (checksum_) {
    case Checksum::kCrc32:
    case Checksum::kCrc32c:
      return core::base64_encode(core::be32_bytes(crc_));
    case Checksum::kSha256:
      return core::base64_encode(body_hasher_->finish());
    case Checksum::kNone:
      break;
  }
  return {};
}

AuthResult<void> ChunkedDecoder::on_trailer_end() {
  if (checksum_ != Checksum::kNone) {
    if (trailer_checksum_.empty()) {
      return fail(AuthErrorCode::kIncompleteBody,
                  "the body ended without the declared " + params_.trailer + " trailer");
    }
    if (expected_checksum() != trailer_checksum_) {
      return fail(AuthErrorCode::kBadDigest, "The " + params_.trailer.substr(13) +
                                                 " you specified did not match the calculated "
                                                 "checksum.");
    }
  }
  if (params_.mode == PayloadMode::kStreamingSignedTrailer) {
    if (trailer_signature_.empty()) {
      return fail(AuthErrorCode::kSignatureDoesNotMatch, "the trailer signature is missing");
    }
    const std::string lines = trailer_checksum_.empty()
                                  ? std::string()
                                  : params_.trailer + ":" + trailer_checksum_ + "\n";
    const std::string expected =
        sign_string(params_.signing_key,
                    trailer_string_to_sign(params_.amz_date, scope_, previous_signature_, lines));
    if (!core::constant_time_equals(expected, trailer_signature_)) {
      return fail(AuthErrorCode::kSignatureDoesNotMatch, "the trailer signature does not match");
    }
  }
  state_ = State::kDone;
  return {};
}

}  // namespace imgflow::sigv4
