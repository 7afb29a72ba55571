#include "http/request_head.h"

#include "core/codec.h"

namespace imgflow::http {

std::vector<std::string_view> header_values(const RequestHead& request,
                                            std::string_view lower_name) {
  std::vector<std::string_view> out;
  for (const Header& h : request.headers) {
    if (core::iequals(h.name, lower_name)) out.emplace_back(h.value);
  }
  return out;
}

std::optional<std::string_view> header_value(const RequestHead& request,
                                             std::string_view lower_name) {
  for (const Header& h : request.headers) {
    if (core::iequals(h.name, lower_name)) return std::string_view(h.value);
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

}  // namespace imgflow::http
