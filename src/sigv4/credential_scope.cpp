#include "sigv4/credential_scope.h"

#include <array>

namespace imgflow::sigv4 {

std::string CredentialScope::to_string() const {
  std::string out;
  out.reserve(date.size() + region.size() + service.size() + kTerminator.size() + 3);
  out.append(date).append("/").append(region).append("/").append(service).append("/");
  out.append(kTerminator);
  return out;
}

std::optional<Credential> parse_credential(std::string_view text) {
  std::array<std::string_view, 5> parts;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::size_t slash = text.find('/');
    if ((slash == std::string_view::npos) != (i + 1 == parts.size())) return std::nullopt;
    parts[i] = text.substr(0, slash);
    if (parts[i].empty()) return std::nullopt;
    if (slash != std::string_view::npos) text.remove_prefix(slash + 1);
  }
  if (parts[1].size() != 8 || parts[4] != kTerminator) return std::nullopt;
  for (char c : parts[1]) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return Credential{
      std::string(parts[0]),
      CredentialScope{std::string(parts[1]), std::string(parts[2]), std::string(parts[3])}};
}

}  // namespace imgflow::sigv4
