// libFuzzer target: the aws-chunked decoder in all three modes, fed in pieces whose sizes come
// from the input, so line and CRLF handling across feed boundaries is exercised.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sigv4/chunked_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow::sigv4;
  if (size < 2) return 0;
  // First byte: mode and trailer; second: piece size. The rest is the body.
  static constexpr PayloadMode kModes[] = {PayloadMode::kStreamingSigned,
                                           PayloadMode::kStreamingUnsignedTrailer,
                                           PayloadMode::kStreamingSignedTrailer};
  static constexpr std::string_view kTrailers[] = {
      "", "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-sha256"};
  ChunkedParams params;
  params.mode = kModes[data[0] % 3];
  params.trailer = params.mode == PayloadMode::kStreamingSigned ? "" : kTrailers[(data[0] / 3) % 4];
  params.decoded_content_length = (data[0] & 0x80U) ? 5 : 0x10000;
  params.amz_date = "20130524T000000Z";
  params.scope = {"20130524", "us-east-1", "s3"};
  params.seed_signature = std::string(64, '0');
  const std::size_t piece = static_cast<std::size_t>(data[1]) + 1;
  std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  auto decoder = ChunkedDecoder::create(params);
  if (!decoder) return 0;
  std::uint64_t emitted = 0;
  const auto sink = [&](std::string_view d) { emitted += d.size(); };
  while (!body.empty()) {
    if (!decoder->feed(body.substr(0, piece), sink)) break;
    body.remove_prefix(std::min(piece, body.size()));
  }
  (void)decoder->finish();
  // Invariant: never more output than the declared length.
  if (emitted > params.decoded_content_length) __builtin_trap();
  return 0;
}
