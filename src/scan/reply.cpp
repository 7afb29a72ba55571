#include "scan/reply.h"

#include <algorithm>

namespace imgflow::scan {
namespace {

using core::ErrorCode;

constexpr std::string_view kStreamPrefix = "stream: ";
constexpr std::string_view kOk = "OK";
constexpr std::string_view kFound = " FOUND";
constexpr std::string_view kError = " ERROR";
constexpr std::string_view kSizeLimit = "size limit exceeded";
// AlertExceedsMax reports what clamd had to stop scanning as a detection of this family.
constexpr std::string_view kLimitsExceeded = "Heuristics.Limits.Exceeded";
constexpr std::size_t kMaxSignatureBytes = 256;

tl::unexpected<core::Error> error(ErrorCode code, std::string message) {
  return tl::unexpected<core::Error>(core::Error{code, std::move(message), "clamd"});
}

// For messages: what clamd said, with anything unprintable escaped and the length capped.
std::string quoted(std::string_view text) {
  constexpr std::size_t kShown = 120;
  std::string shown;
  for (const char c : text.substr(0, kShown)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      shown += c;
    } else {
      constexpr std::string_view kHex = "0123456789abcdef";
      shown += "\\x";
      shown += kHex[u >> 4U];
      shown += kHex[u & 0xfU];
    }
  }
  if (text.size() > kShown) shown += "...";
  return "\"" + shown + "\"";
}

bool printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

// The reply's text without its NUL terminator, or why it is not one reply.
core::Result<std::string_view> reply_text(std::string_view reply) {
  if (reply.empty()) return error(ErrorCode::kCorrupt, "clamd sent an empty reply");
  if (reply.size() > kMaxReplyBytes) {
    return error(ErrorCode::kCorrupt, "clamd's reply is over " + std::to_string(kMaxReplyBytes) +
                                          " bytes: " + quoted(reply));
  }
  if (reply.back() != '\0') {
    return error(ErrorCode::kCorrupt, "clamd's reply does not end in NUL: " + quoted(reply));
  }
  const std::string_view text = reply.substr(0, reply.size() - 1);
  if (!printable(text)) {
    return error(ErrorCode::kCorrupt,
                 "clamd's reply has a control character or non-ASCII byte: " + quoted(reply));
  }
  return text;
}

core::Result<Verdict> infected_by(std::string_view signature, std::string_view text) {
  if (signature.empty() || signature.size() > kMaxSignatureBytes ||
      signature.find(' ') != std::string_view::npos) {
    return error(ErrorCode::kCorrupt,
                 "clamd's FOUND reply names no valid signature: " + quoted(text));
  }
  if (signature.starts_with(kLimitsExceeded)) {
    return error(ErrorCode::kTooLarge, "clamd could not scan the whole file (" +
                                           std::string(signature) + "): raise its limits");
  }
  return Verdict{.kind = Verdict::Kind::kInfected, .signature = std::string(signature)};
}

core::Result<Verdict> clamd_error(std::string_view text) {
  if (text.find(kSizeLimit) != std::string_view::npos) {
    return error(ErrorCode::kTooLarge,
                 "over clamd's StreamMaxLength: " + quoted(text) + " (raise StreamMaxLength)");
  }
  return error(ErrorCode::kUnavailable, "clamd could not scan: " + quoted(text));
}

}  // namespace

core::Result<Verdict> parse_scan_reply(std::string_view reply) {
  auto text = reply_text(reply);
  if (!text) return core::fail(text.error());
  if (text->ends_with(kError)) return clamd_error(*text);
  if (!text->starts_with(kStreamPrefix)) {
    return error(ErrorCode::kCorrupt, "unexpected clamd reply: " + quoted(*text));
  }
  const std::string_view result = text->substr(kStreamPrefix.size());
  if (result == kOk) return Verdict{};
  if (result.ends_with(kFound)) {
    return infected_by(result.substr(0, result.size() - kFound.size()), *text);
  }
  return error(ErrorCode::kCorrupt, "unexpected clamd reply: " + quoted(*text));
}

core::Result<ClamdVersion> parse_version_reply(std::string_view reply) {
  auto text = reply_text(reply);
  if (!text) return core::fail(text.error());
  constexpr std::string_view kClamAv = "ClamAV ";
  if (!text->starts_with(kClamAv) || text->size() == kClamAv.size()) {
    return error(ErrorCode::kCorrupt, "unexpected clamd VERSION reply: " + quoted(*text));
  }
  const auto first = text->find('/');
  if (first == std::string_view::npos) return ClamdVersion{.engine = std::string(*text)};
  const auto second = text->find('/', first + 1);
  const std::string_view database =
      text->substr(first + 1, second == std::string_view::npos ? second : second - first - 1);
  const bool digits = !database.empty() && std::all_of(database.begin(), database.end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
  if (second == std::string_view::npos || !digits || first == kClamAv.size()) {
    return error(ErrorCode::kCorrupt,
                 "clamd's VERSION reply is not ClamAV ENGINE/DATABASE/DATE: " + quoted(*text));
  }
  return ClamdVersion{.engine = std::string(text->substr(0, first)),
                      .database = std::string(database),
                      .database_date = std::string(text->substr(second + 1))};
}

core::Status parse_ping_reply(std::string_view reply) {
  auto text = reply_text(reply);
  if (!text) return core::fail(text.error());
  if (*text != "PONG") {
    return error(ErrorCode::kCorrupt, "clamd answered PING with " + quoted(*text));
  }
  return {};
}

}  // namespace imgflow::scan
