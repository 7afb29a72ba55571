#include "http/http_client.h"

#include <algorithm>
#include <cstring>

#include "core/codec.h"

namespace imgflow::http {

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (core::iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

core::Result<std::size_t> StringBodySource::read(char* buf, std::size_t n) {
  const std::size_t count = std::min(n, data_.size() - pos_);
  if (count > 0) std::memcpy(buf, data_.data() + pos_, count);
  pos_ += count;
  return count;
}

}  // namespace imgflow::http
