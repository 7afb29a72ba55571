#include "sigv4/signer.h"

#include <algorithm>
#include <array>
#include <vector>

#include "core/codec.h"
#include "http/request_head.h"
#include "sigv4/canonical_request.h"
#include "sigv4/signing_key.h"

namespace imgflow::sigv4 {
namespace {

// Headers a proxy or the HTTP stack may add, drop or rewrite: signing them breaks requests.
constexpr std::array<std::string_view, 6> kUnsignedHeaders = {
    "authorization", "connection", "expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"};

std::vector<std::string> names_to_sign(const http::RequestHead& request) {
  std::vector<std::string> names;
  for (const http::Header& h : request.headers) {
    std::string name = core::to_lower(h.name);
    if (std::find(kUnsignedHeaders.begin(), kUnsignedHeaders.end(), name) ==
        kUnsignedHeaders.end()) {
      names.push_back(std::move(name));
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

void remove_headers(http::RequestHead& request,
                    std::initializer_list<std::string_view> lower_names) {
  std::erase_if(request.headers, [&](const http::Header& h) {
    const std::string name = core::to_lower(h.name);
    return std::find(lower_names.begin(), lower_names.end(), name) != lower_names.end();
  });
}

core::Status check(const http::RequestHead& request, const SigningParams& params) {
  if (params.credentials.access_key_id.empty() || params.credentials.secret_access_key.empty()) {
    return core::fail(core::ErrorCode::kInvalidArgument, "SigV4 signing needs an access key pair");
  }
  if (request.method.empty()) {
    return core::fail(core::ErrorCode::kInvalidArgument, "SigV4 signing needs an HTTP method");
  }
  return {};
}

CredentialScope scope_of(const SigningParams& params, std::string_view amz_date) {
  return CredentialScope{std::string(amz_date.substr(0, 8)), params.region, params.service};
}

SignResult sign(const http::RequestHead& request, const SigningParams& params,
                std::string_view amz_date, const std::vector<std::string>& names,
                std::string_view exclude_query_key) {
  SignResult result;
  const CredentialScope scope = scope_of(params, amz_date);
  result.canonical_request =
      canonical_request(request, names, params.payload_hash,
                        {.normalize_path = params.normalize_path}, exclude_query_key);
  result.string_to_sign = string_to_sign(amz_date, scope, result.canonical_request);
  result.signature = sign_string(derive_signing_key(params.credentials.secret_access_key, scope),
                                 result.string_to_sign);
  result.signed_headers = join_signed_headers(names);
  return result;
}

}  // namespace

core::Result<SignResult> sign_request(http::RequestHead& request, const SigningParams& params) {
  if (auto ok = check(request, params); !ok) return core::fail(ok.error());
  const std::string amz_date = format_amz_date(params.time);
  const std::string& token = params.credentials.session_token;
  remove_headers(request, {"authorization", "x-amz-date"});
  if (!token.empty()) remove_headers(request, {"x-amz-security-token"});
  if (params.add_content_sha256_header) remove_headers(request, {"x-amz-content-sha256"});

  request.headers.push_back({"X-Amz-Date", amz_date});
  if (!token.empty() && params.sign_session_token) {
    request.headers.push_back({"X-Amz-Security-Token", token});
  }
  if (params.add_content_sha256_header) {
    request.headers.push_back({"x-amz-content-sha256", params.payload_hash});
  }
  SignResult result = sign(request, params, amz_date, names_to_sign(request), {});
  const CredentialScope scope = scope_of(params, amz_date);
  result.authorization = std::string(kAlgorithm) +
                         " Credential=" + params.credentials.access_key_id + "/" +
                         scope.to_string() + ", SignedHeaders=" + result.signed_headers +
                         ", Signature=" + result.signature;
  request.headers.push_back({"Authorization", result.authorization});
  if (!token.empty() && !params.sign_session_token) {
    request.headers.push_back({"X-Amz-Security-Token", token});
  }
  return result;
}

core::Result<SignResult> presign(http::RequestHead& request, const SigningParams& params,
                                 std::chrono::seconds expires) {
  if (auto ok = check(request, params); !ok) return core::fail(ok.error());
  if (expires < std::chrono::seconds(1) || expires > kMaxPresignExpiry) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "presigned URL expiry must be between 1 and 604800 seconds");
  }
  const std::string amz_date = format_amz_date(params.time);
  const CredentialScope scope = scope_of(params, amz_date);
  const std::vector<std::string> names = names_to_sign(request);
  const std::string& token = params.credentials.session_token;

  // The order matches what the AWS SDKs emit; the canonical form sorts anyway.
  std::string& q = request.query;
  if (!q.empty()) q.push_back('&');
  q.append("X-Amz-Algorithm=").append(kAlgorithm);
  q.append("&X-Amz-Credential=")
      .append(core::uri_encode(params.credentials.access_key_id + "/" + scope.to_string(), false));
  q.append("&X-Amz-Date=").append(amz_date);
  q.append("&X-Amz-SignedHeaders=").append(core::uri_encode(join_signed_headers(names), false));
  q.append("&X-Amz-Expires=").append(std::to_string(expires.count()));
  if (!token.empty() && params.sign_session_token) {
    q.append("&X-Amz-Security-Token=").append(core::uri_encode(token, false));
  }
  SignResult result = sign(request, params, amz_date, names, {});
  if (!token.empty() && !params.sign_session_token) {
    q.append("&X-Amz-Security-Token=").append(core::uri_encode(token, false));
  }
  q.append("&X-Amz-Signature=").append(result.signature);
  return result;
}

}  // namespace imgflow::sigv4
