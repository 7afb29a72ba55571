#include "sigv4/authorization_header.h"

namespace imgflow::sigv4 {
namespace {

bool is_name_char(char c) {
  // RFC 9110 token characters, without upper case: canonical names are lower-case.
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

tl::unexpected<AuthError> malformed(std::string detail) {
  return auth_fail(AuthErrorCode::kAuthorizationHeaderMalformed,
                   "The authorization header is malformed; " + std::move(detail));
}

}  // namespace

std::optional<std::vector<std::string>> parse_signed_headers(std::string_view text) {
  std::vector<std::string> names;
  while (true) {
    const std::size_t semi = text.find(';');
    const std::string_view name = text.substr(0, semi);
    if (name.empty()) return std::nullopt;
    for (char c : name) {
      if (!is_name_char(c)) return std::nullopt;
    }
    if (!names.empty() && !(names.back() < name)) return std::nullopt;
    names.emplace_back(name);
    if (semi == std::string_view::npos) return names;
    text.remove_prefix(semi + 1);
  }
}

AuthResult<AuthorizationHeader> parse_authorization_header(std::string_view value) {
  value = trim_spaces(value);
  const std::size_t space = value.find(' ');
  if (value.substr(0, space) != kAlgorithm) {
    return auth_fail(AuthErrorCode::kInvalidRequest,
                     "The authorization mechanism you have provided is not supported. Please use "
                     "AWS4-HMAC-SHA256.");
  }
  if (space == std::string_view::npos) return malformed("it has no components");
  std::string_view rest = value.substr(space + 1);

  std::optional<std::string_view> credential, signed_headers, signature;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view part = trim_spaces(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos)
      return malformed("expected key=value but found '" + std::string(part.substr(0, 64)) + "'");
    const std::string_view key = part.substr(0, eq);
    std::optional<std::string_view>* slot = key == "Credential"      ? &credential
                                            : key == "SignedHeaders" ? &signed_headers
                                            : key == "Signature"     ? &signature
                                                                     : nullptr;
    if (slot == nullptr) {
      return malformed("unknown component '" + std::string(key.substr(0, 64)) + "'");
    }
    if (slot->has_value()) return malformed("component " + std::string(key) + " is repeated");
    *slot = part.substr(eq + 1);
  }
  if (!credential || !signed_headers || !signature) {
    return malformed("it must contain Credential, SignedHeaders and Signature");
  }
  AuthorizationHeader out;
  auto parsed = parse_credential(*credential);
  if (!parsed) {
    return malformed(
        "the Credential must have the form <key>/<YYYYMMDD>/<region>/<service>/"
        "aws4_request");
  }
  out.credential = std::move(*parsed);
  auto names = parse_signed_headers(*signed_headers);
  if (!names) return malformed("SignedHeaders must be lower-case names, sorted, without repeats");
  out.signed_headers = std::move(*names);
  if (signature->empty()) return malformed("the Signature is empty");
  out.signature = std::string(*signature);
  return out;
}

}  // namespace imgflow::sigv4
