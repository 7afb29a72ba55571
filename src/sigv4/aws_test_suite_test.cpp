// Runs every case of the AWS SigV4 test suite (tests/data/sigv4/aws-sigv4-test-suite, from
// awslabs/aws-c-auth) in header and query form, and the S3 streaming (aws-chunked) vector.
//
// The suite signs for a generic service, so "normalize": true cases expect the path to be
// normalised; they run with CanonicalOptions::normalize_path set, exactly as context.json says.
// The *-unnormalized cases ("normalize": false) are the S3 behaviour and run with it off.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/digest.h"
#include "http/request_head.h"
#include "sigv4/chunk_signer.h"
#include "sigv4/chunked_decoder.h"
#include "sigv4/signer.h"
#include "sigv4/signing_key.h"
#include "sigv4/verifier.h"

namespace imgflow::sigv4 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kDataDir = fs::path(IMGFLOW_SOURCE_DIR) / "tests/data/sigv4";
const fs::path kSuiteDir = kDataDir / "aws-sigv4-test-suite";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RawRequest {
  http::RequestHead request;
  std::string body;
};

// Parses a raw HTTP/1.1 request as the suite writes it: the target may hold raw spaces and
// UTF-8, and folded header lines continue the previous value.
RawRequest parse_raw_request(const std::string& text) {
  RawRequest out;
  std::size_t pos = text.find('\n');
  const std::string first = text.substr(0, pos);
  const std::size_t sp = first.find(' ');
  const std::size_t http = first.rfind(" HTTP/");
  out.request.method = first.substr(0, sp);
  const std::string target = first.substr(sp + 1, http - sp - 1);
  const std::size_t q = target.find('?');
  out.request.path = target.substr(0, q);
  out.request.query = q == std::string::npos ? "" : target.substr(q + 1);
  while (pos != std::string::npos) {
    const std::size_t start = pos + 1;
    pos = text.find('\n', start);
    const std::string line = text.substr(start, pos == std::string::npos ? pos : pos - start);
    if (line.empty()) {
      if (pos != std::string::npos) out.body = text.substr(pos + 1);
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !out.request.headers.empty()) {
      out.request.headers.back().value += " " + line;
      continue;
    }
    const std::size_t colon = line.find(':');
    out.request.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  return out;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string authorization_of(const std::string& signed_request) {
  const std::string marker = "\nAuthorization:";
  const std::size_t at = signed_request.find(marker);
  if (at == std::string::npos) return "";
  const std::size_t start = at + marker.size();
  return signed_request.substr(start, signed_request.find('\n', start) - start);
}

TimePoint parse_timestamp(const std::string& iso) { return *parse_iso8601(iso); }

struct SuiteCase {
  std::string name;
  bool query_form;
};

std::vector<SuiteCase> all_cases() {
  std::vector<SuiteCase> cases;
  for (const auto& entry : fs::directory_iterator(kSuiteDir)) {
    if (!entry.is_directory()) continue;
    cases.push_back({entry.path().filename().string(), false});
    cases.push_back({entry.path().filename().string(), true});
  }
  std::sort(cases.begin(), cases.end(), [](const SuiteCase& a, const SuiteCase& b) {
    return std::tie(a.name, a.query_form) < std::tie(b.name, b.query_form);
  });
  return cases;
}

class AwsSuiteTest : public testing::TestWithParam<SuiteCase> {};

TEST_P(AwsSuiteTest, MatchesByteForByte) {
  const SuiteCase& c = GetParam();
  const fs::path dir = kSuiteDir / c.name;
  const json context = json::parse(read_file(dir / "context.json"));
  RawRequest raw = parse_raw_request(read_file(dir / "request.txt"));
  const bool sign_body = context.value("sign_body", false);

  SigningParams params;
  params.credentials.access_key_id = context["credentials"]["access_key_id"];
  params.credentials.secret_access_key = context["credentials"]["secret_access_key"];
  params.credentials.session_token = context["credentials"].value("token", "");
  params.region = context["region"];
  params.service = context["service"];
  params.time = parse_timestamp(context["timestamp"]);
  params.normalize_path = context.value("normalize", true);
  params.sign_session_token = !context.value("omit_session_token", false);
  params.payload_hash = core::to_hex(core::sha256(sign_body ? raw.body : ""));
  params.add_content_sha256_header = sign_body && !c.query_form;

  const std::string prefix = c.query_form ? "query-" : "header-";
  auto result = c.query_form ? presign(raw.request, params,
                                       std::chrono::seconds(context["expiration_in_seconds"]))
                             : sign_request(raw.request, params);
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->canonical_request, read_file(dir / (prefix + "canonical-request.txt")));
  EXPECT_EQ(result->string_to_sign, read_file(dir / (prefix + "string-to-sign.txt")));
  EXPECT_EQ(result->signature, read_file(dir / (prefix + "signature.txt")));
  const std::string signed_request = read_file(dir / (prefix + "signed-request.txt"));
  if (c.query_form) {
    EXPECT_EQ(raw.request.method + " " + raw.request.path + "?" + raw.request.query + " HTTP/1.1",
              first_line(signed_request));
  } else {
    EXPECT_EQ(result->authorization, authorization_of(signed_request));
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, AwsSuiteTest, testing::ValuesIn(all_cases()),
                         [](const testing::TestParamInfo<SuiteCase>& param_info) {
                           std::string name = param_info.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name + (param_info.param.query_form ? "_query" : "_header");
                         });

TEST(AwsSuiteTest, HasEveryCase) {
  // 38 directories in aws-c-auth's v4 suite as vendored; catches a partial copy.
  EXPECT_EQ(all_cases().size(), 2U * 38U);
}

// The S3 API reference worked example of STREAMING-AWS4-HMAC-SHA256-PAYLOAD.
TEST(AwsStreamingVectorTest, SeedChunkSignaturesAndDecode) {
  const json v = json::parse(read_file(kDataDir / "aws-sigv4-streaming.json"));
  http::RequestHead request;
  request.method = v["request"]["method"];
  request.path = v["request"]["path"];
  for (const auto& [name, value] : v["request"]["headers"].items()) {
    request.headers.push_back({name, value.get<std::string>()});
  }
  SigningParams params;
  params.credentials.access_key_id = v["credentials"]["access_key_id"];
  params.credentials.secret_access_key = v["credentials"]["secret_access_key"];
  params.region = v["region"];
  params.service = v["service"];
  params.time = *parse_amz_date(v["amz_date"].get<std::string>());
  params.payload_hash = std::string(kStreamingSignedPayload);
  auto signed_result = sign_request(request, params);
  ASSERT_TRUE(signed_result);
  EXPECT_EQ(signed_result->signed_headers, v["expected"]["signed_headers"]);
  EXPECT_EQ(signed_result->signature, v["expected"]["seed_signature"]);

  const CredentialScope scope{"20130524", params.region, params.service};
  ChunkSigner signer(derive_signing_key(params.credentials.secret_access_key, scope), v["amz_date"],
                     scope, signed_result->signature);
  std::string body;
  std::uint64_t payload_size = 0;
  const auto& sizes = v["chunk_sizes"];
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string chunk(sizes[i].get<std::size_t>(), 'a');
    payload_size += chunk.size();
    const std::string framed = signer.frame(chunk);
    EXPECT_NE(framed.find(v["expected"]["chunk_signatures"][i].get<std::string>()),
              std::string::npos)
        << "chunk " << i;
    body += framed;
  }
  EXPECT_EQ(std::to_string(body.size()), v["request"]["headers"]["content-length"]);
  EXPECT_EQ(std::to_string(payload_size), v["request"]["headers"]["x-amz-decoded-content-length"]);

  // The server side of the same exchange: verify the headers, then decode the body in odd pieces.
  core::ManualClock clock(params.time);
  const auto lookup = [&](std::string_view id) -> std::optional<SecretKey> {
    if (id != params.credentials.access_key_id) return std::nullopt;
    return SecretKey{params.credentials.secret_access_key, "tester", "", std::nullopt};
  };
  auto verified = verify_header(request, lookup, clock);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->payload_mode, PayloadMode::kStreamingSigned);
  auto decoder = ChunkedDecoder::create(*verified);
  ASSERT_TRUE(decoder);
  std::uint64_t decoded = 0;
  bool all_a = true;
  for (std::size_t at = 0; at < body.size(); at += 997) {
    auto ok = decoder->feed(std::string_view(body).substr(at, 997), [&](std::string_view d) {
      decoded += d.size();
      all_a = all_a && d.find_first_not_of('a') == std::string_view::npos;
    });
    ASSERT_TRUE(ok) << ok.error().message;
  }
  ASSERT_TRUE(decoder->finish());
  EXPECT_EQ(decoded, payload_size);
  EXPECT_TRUE(all_a);
}

}  // namespace
}  // namespace imgflow::sigv4
