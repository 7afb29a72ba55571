// CPU cost of verifying one signed request: header form and presigned form, with and without
// the signing-key cache (the gateway uses the cache; the uncached number bounds a cold key).

#include <benchmark/benchmark.h>

#include "core/clock.h"
#include "http/request_head.h"
#include "sigv4/signer.h"
#include "sigv4/signing_key.h"
#include "sigv4/verifier.h"

namespace imgflow::sigv4 {
namespace {

constexpr std::string_view kAccessKey = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

std::optional<SecretKey> lookup(std::string_view id) {
  if (id != kAccessKey) return std::nullopt;
  return SecretKey{std::string(kSecret), "admin", "", std::nullopt};
}

SigningParams params(TimePoint now) {
  SigningParams p;
  p.credentials = {std::string(kAccessKey), std::string(kSecret), ""};
  p.time = now;
  return p;
}

http::RequestHead base_request() {
  http::RequestHead r;
  r.method = "PUT";
  r.path = "/uploads/2024/05/holiday%20photo.jpg";
  r.query = "x-id=PutObject";
  r.headers = {{"Host", "localhost:9000"},
               {"Content-Type", "image/jpeg"},
               {"Content-Length", "1048576"},
               {"User-Agent", "aws-cli/2.15.0"},
               {"x-amz-meta-camera", "  X100V  "}};
  return r;
}

void run(benchmark::State& state, const http::RequestHead& request, bool cached) {
  const core::ManualClock clock(*parse_amz_date("20240501T120000Z"));
  SigningKeyCache cache;
  VerifierOptions options;
  if (cached) options.key_cache = &cache;
  const CredentialsLookup fn = lookup;
  for (auto _ : state) {
    auto result = verify(request, fn, clock, options);
    if (!result) state.SkipWithError(result.error().message.c_str());
    benchmark::DoNotOptimize(result);
  }
}

void BM_VerifyHeader(benchmark::State& state) {
  http::RequestHead r = base_request();
  SigningParams p = params(*parse_amz_date("20240501T120000Z"));
  p.payload_hash = std::string(kUnsignedPayload);
  (void)sign_request(r, p);
  run(state, r, state.range(0) != 0);
}
BENCHMARK(BM_VerifyHeader)->Arg(0)->Arg(1)->ArgName("cached");

void BM_VerifyPresigned(benchmark::State& state) {
  http::RequestHead r = base_request();
  r.method = "GET";
  r.headers.resize(1);  // a browser sends just Host that matters
  (void)presign(r, params(*parse_amz_date("20240501T120000Z")), std::chrono::seconds(3600));
  run(state, r, state.range(0) != 0);
}
BENCHMARK(BM_VerifyPresigned)->Arg(0)->Arg(1)->ArgName("cached");

}  // namespace
}  // namespace imgflow::sigv4

BENCHMARK_MAIN();
