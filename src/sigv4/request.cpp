#include "sigv4/request.h"

#include "core/codec.h"

namespace imgflow::sigv4 {
namespace {

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string_view> header_values(const Request& request, std::string_view lower_name) {
  std::vector<std::string_view> out;
  for (const Header& h : request.headers) {
    if (iequals(h.name, lower_name)) out.emplace_back(h.value);
  }
  return out;
}

std::optional<std::string_view> header_value(const Request& request, std::string_view lower_name) {
  for (const Header& h : request.headers) {
    if (iequals(h.name, lower_name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::vector<QueryParam> parse_query(std::string_view raw_query) {
  std::vector<QueryParam> out;
  while (!raw_query.empty()) {
    const std::size_t amp = raw_query.find('&');
    const std::string_view piece = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (piece.empty()) continue;
    const std::size_t eq = piece.find('=');
    QueryParam param;
    param.key = core::percent_decode(piece.substr(0, eq), true);
    if (eq != std::string_view::npos)
      param.value = core::percent_decode(piece.substr(eq + 1), true);
    out.push_back(std::move(param));
  }
  return out;
}

}  // namespace imgflow::sigv4
