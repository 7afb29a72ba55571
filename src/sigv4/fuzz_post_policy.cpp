// libFuzzer target: the browser POST policy. Input before the first NUL is the policy JSON; the
// lines after it are form fields ("name=value"). The policy goes to the parser directly, then,
// correctly signed, through verify_post_policy, so the condition checks also see arbitrary
// policies and fields (a real request reaches them only with a valid signature).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/digest.h"
#include "sigv4/amz_date.h"
#include "sigv4/post_policy.h"
#include "sigv4/signing_key.h"

namespace {

using imgflow::sigv4::FormField;

std::vector<FormField> fields_of(std::string_view text) {
  std::vector<FormField> fields;
  while (!text.empty() && fields.size() < 32) {
    const auto end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    if (const auto eq = line.find('='); eq != std::string_view::npos) {
      fields.push_back({std::string(line.substr(0, eq)), std::string(line.substr(eq + 1))});
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return fields;
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow::sigv4;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\0');
  const std::string_view json = input.substr(0, split);
  const std::string_view rest =
      split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  if (auto policy = parse_post_policy(json)) (void)check_content_length(*policy, rest.size());

  static const auto key =
      derive_signing_key("secret", CredentialScope{"20130524", "us-east-1", "s3"});
  const std::string policy_b64 = imgflow::core::base64_encode(json);
  std::vector<FormField> fields = fields_of(rest);
  fields.push_back({"policy", policy_b64});
  fields.push_back({"x-amz-algorithm", "AWS4-HMAC-SHA256"});
  fields.push_back({"x-amz-credential", "AKIDFUZZ/20130524/us-east-1/s3/aws4_request"});
  fields.push_back({"x-amz-date", "20130524T000000Z"});
  fields.push_back({"x-amz-signature", sign_string(key, policy_b64)});

  static const imgflow::core::ManualClock clock(*parse_amz_date("20130524T000000Z"));
  const CredentialsLookup lookup = [](std::string_view) -> std::optional<SecretKey> {
    return SecretKey{"secret", "fuzz", "", std::nullopt};
  };
  (void)verify_post_policy(fields, "uploads", lookup, clock);
  return 0;
}
