#include "gateway/form_data_reader.h"

#include <algorithm>

#include "core/codec.h"

namespace imgflow::gateway {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

core::Error malformed(std::string why) {
  return core::Error{core::ErrorCode::kInvalidArgument, "malformed multipart/form-data: " + why};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of `param` in a header like `form-data; name="key"; filename="a.jpg"`.
std::optional<std::string> header_param(std::string_view header, std::string_view param) {
  std::size_t pos = header.find(';');
  while (pos != std::string_view::npos) {
    const std::size_t next = header.find(';', pos + 1);
    std::string_view item =
        trim(header.substr(pos + 1, next == header.npos ? header.npos : next - pos - 1));
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos && core::to_lower(trim(item.substr(0, eq))) == param) {
      std::string_view value = trim(item.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"') {
        // A quoted value may itself contain ';': take it up to the closing quote.
        const std::size_t start = header.find('"', pos) + 1;
        const std::size_t end = header.find('"', start);
        if (end == std::string_view::npos) return std::nullopt;
        return std::string(header.substr(start, end - start));
      }
      return std::string(value);
    }
    pos = next;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> form_boundary(std::string_view content_type) {
  const std::string lower = core::to_lower(content_type);
  if (!lower.starts_with("multipart/form-data")) return std::nullopt;
  auto boundary = header_param(content_type, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) return std::nullopt;
  return boundary;
}

FormDataReader::FormDataReader(storage::ByteSource& source, std::string_view boundary)
    // The first delimiter has no CRLF before it; a virtual CRLF makes it look like the others.
    : source_(source), delimiter_("\r\n--" + std::string(boundary)), buffer_("\r\n") {}

core::Status FormDataReader::fill(std::size_t want) {
  while (buffer_.size() < want && !source_done_) {
    const std::size_t old = buffer_.size();
    buffer_.resize(old + kReadChunk);
    auto got = source_.read(buffer_.data() + old, kReadChunk);
    if (!got) {
      buffer_.resize(old);
      return core::fail(got.error());
    }
    buffer_.resize(old + *got);
    if (*got == 0) source_done_ = true;
  }
  return {};
}

core::Status FormDataReader::after_delimiter() {
  if (auto ok = fill(2); !ok) return ok;
  if (buffer_.starts_with("--")) {
    state_ = State::kDone;
    buffer_.clear();  // the epilogue is ignored
    return {};
  }
  // Transport padding (spaces/tabs) may precede the CRLF.
  if (auto ok = fill(kMaxHeaderBytes); !ok) return ok;
  const std::size_t crlf = buffer_.find("\r\n");
  if (crlf == std::string::npos || trim(std::string_view(buffer_).substr(0, crlf)).size() != 0) {
    return core::fail(malformed("bad delimiter line"));
  }
  buffer_.erase(0, crlf + 2);
  state_ = State::kHeaders;
  return {};
}

core::Result<std::size_t> FormDataReader::find_delimiter() {
  std::size_t from = 0;
  for (;;) {
    const std::size_t at = buffer_.find(delimiter_, from);
    if (at == std::string::npos) return at;
    // Only "--", CRLF or transport padding may follow a real delimiter; anything else is data
    // that merely starts like one.
    if (auto ok = fill(at + delimiter_.size() + 2); !ok) return core::fail(ok.error());
    const std::string_view after = std::string_view(buffer_).substr(at + delimiter_.size(), 2);
    if (after.size() < 2 || after == "--" || after == "\r\n" || after[0] == ' ' ||
        after[0] == '\t') {
      return at;
    }
    from = at + 1;
  }
}

core::Result<std::size_t> FormDataReader::read_body(char* buf, std::size_t n) {
  if (state_ != State::kBody && state_ != State::kPreamble) return std::size_t{0};
  if (auto ok = fill(delimiter_.size() + n); !ok) return core::fail(ok.error());
  auto at = find_delimiter();
  if (!at) return core::fail(at.error());
  if (*at == 0) {
    buffer_.erase(0, delimiter_.size());
    if (auto ok = after_delimiter(); !ok) return core::fail(ok.error());
    return std::size_t{0};
  }
  std::size_t take;
  if (*at != std::string::npos) {
    take = std::min(n, *at);
  } else if (source_done_) {
    return core::fail(malformed("body ended before the closing boundary"));
  } else {
    // Keep enough bytes back that a delimiter split across reads is still found.
    take = std::min(n, buffer_.size() - (delimiter_.size() - 1));
  }
  buffer_.copy(buf, take);
  buffer_.erase(0, take);
  return take;
}

core::Result<FormPart> FormDataReader::read_headers() {
  if (auto ok = fill(kMaxHeaderBytes); !ok) return core::fail(ok.error());
  const std::size_t end = buffer_.find("\r\n\r\n");
  if (end == std::string::npos || end > kMaxHeaderBytes) {
    // A part with no headers at all starts directly with the blank line.
    if (!buffer_.starts_with("\r\n")) {
      return core::fail(malformed("part headers too long or unterminated"));
    }
  }
  FormPart part;
  const std::string_view block =
      buffer_.starts_with("\r\n") ? std::string_view() : std::string_view(buffer_).substr(0, end);
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = block.size();
    const std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return core::fail(malformed("bad part header line"));
    const std::string name = core::to_lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      if (!core::to_lower(value).starts_with("form-data")) {
        return core::fail(malformed("Content-Disposition is not form-data"));
      }
      part.name = header_param(value, "name").value_or("");
      part.filename = header_param(value, "filename");
    } else if (name == "content-type") {
      part.content_type = std::string(value);
    }
  }
  buffer_.erase(0, block.empty() ? 2 : end + 4);
  if (part.name.empty()) return core::fail(malformed("part without a name"));
  state_ = State::kBody;
  return part;
}

core::Result<std::optional<FormPart>> FormDataReader::next() {
  // Skip whatever is left of the current part (or the preamble).
  char scratch[4096];
  while (state_ == State::kBody || state_ == State::kPreamble) {
    auto got = read_body(scratch, sizeof scratch);
    if (!got) return core::fail(got.error());
  }
  if (state_ == State::kDone) return std::optional<FormPart>{};
  if (++parts_ > kMaxParts) {
    return core::fail(core::ErrorCode::kTooLarge, "too many form fields");
  }
  auto part = read_headers();
  if (!part) return core::fail(part.error());
  return std::optional<FormPart>{std::move(*part)};
}

core::Result<std::string> FormDataReader::read_value(std::size_t max_bytes) {
  std::string out;
  char buf[4096];
  for (;;) {
    auto got = read_body(buf, sizeof buf);
    if (!got) return core::fail(got.error());
    if (*got == 0) return out;
    if (out.size() + *got > max_bytes) {
      return core::fail(core::ErrorCode::kTooLarge, "a form field is too large");
    }
    out.append(buf, *got);
  }
}

}  // namespace imgflow::gateway
