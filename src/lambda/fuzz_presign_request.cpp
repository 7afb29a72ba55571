// libFuzzer target: the upload-URL endpoint's request parsing. The input is tried as a whole
// function-URL event (through Presigner::handle, signing included) and as the request body alone,
// which is what a client controls.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "lambda/presign.h"
#include "sigv4/amz_date.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)lambda::parse_upload_request({"POST", std::string(text)}, 50ULL << 20);

  static std::FILE* const sink = std::fopen("/dev/null", "w");
  static core::Logger log(sink, core::LogLevel::kInfo, core::LogFormat::kLambda);
  static const core::ManualClock clock(*sigv4::parse_amz_date("20261206T120000Z"));
  static const lambda::Presigner presigner = [] {
    lambda::PresignOptions options;
    options.bucket = "uploads";
    options.prefix = "incoming/";
    options.region = "eu-west-1";
    return lambda::Presigner(options, {"AKIDFUZZ", "secret", "token"}, log, clock, [] {
      return core::Result<std::string>("00112233445566778899aabbccddeeff");
    });
  }();
  (void)presigner.handle(text, "fuzz");
  return 0;
}
