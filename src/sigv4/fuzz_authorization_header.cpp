// libFuzzer target: the Authorization header parser, then header verification of a request that
// carries the input as its Authorization header (so every later check sees odd parses too).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/request_head.h"
#include "sigv4/authorization_header.h"
#include "sigv4/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow::sigv4;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse_authorization_header(text);

  imgflow::http::RequestHead request;
  request.method = "PUT";
  request.path = "/uploads/a.jpg";
  request.headers = {{"Host", "localhost"},
                     {"X-Amz-Date", "20130524T000000Z"},
                     {"X-Amz-Content-Sha256", std::string(kUnsignedPayload)},
                     {"Authorization", std::string(text)}};
  static const imgflow::core::ManualClock clock(*parse_amz_date("20130524T000000Z"));
  const CredentialsLookup lookup = [](std::string_view) -> std::optional<SecretKey> {
    return SecretKey{"secret", "fuzz", "", std::nullopt};
  };
  (void)verify_header(request, lookup, clock);
  return 0;
}
