// libFuzzer target: presigned-URL verification with the input as the raw query string, so the
// query parser, the X-Amz-* parameter checks and the canonical query all see arbitrary bytes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "http/request_head.h"
#include "sigv4/amz_date.h"
#include "sigv4/verifier.h"

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow::sigv4;
  imgflow::http::RequestHead request;
  request.method = "GET";
  request.path = "/processed/a%20b.jpg";
  request.query.assign(reinterpret_cast<const char*>(data), size);
  request.headers = {{"Host", "localhost"}};
  static const imgflow::core::ManualClock clock(*parse_amz_date("20130524T000000Z"));
  const CredentialsLookup lookup = [](std::string_view) -> std::optional<SecretKey> {
    return SecretKey{"secret", "fuzz", "", std::nullopt};
  };
  (void)classify(request);
  (void)verify_presigned(request, lookup, clock);
  return 0;
}
