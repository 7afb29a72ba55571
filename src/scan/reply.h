#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

// clamd's replies, parsed strictly. clamd is trusted to scan, not to be well-formed: a reply
// that is not exactly one of the shapes below is an error, never "clean".
namespace imgflow::scan {

// What a finished scan found.
struct Verdict {
  enum class Kind { kClean, kInfected };
  Kind kind = Kind::kClean;
  std::string signature{};  // kInfected: clamd's name for it ("Eicar-Signature.UNOFFICIAL")

  bool infected() const { return kind == Kind::kInfected; }
  bool operator==(const Verdict&) const = default;
};

// What zVERSION reports.
struct ClamdVersion {
  std::string engine{};         // "ClamAV 1.4.6"
  std::string database{};       // the signature database's version ("27412"); "" when clamd
                                // loaded local signature files only (no official database)
  std::string database_date{};  // "Mon Sep  1 08:35:52 2025"; "" with database
  bool operator==(const ClamdVersion&) const = default;
};

// The longest reply clamd sends for one command; anything longer is not clamd.
inline constexpr std::size_t kMaxReplyBytes = 1024;

// Parses the reply to zINSTREAM, its terminating NUL included:
//   "stream: OK\0"            → clean
//   "stream: NAME FOUND\0"    → infected by NAME (printable ASCII, no spaces)
//   "... size limit exceeded. ERROR\0" → kTooLarge (over clamd's StreamMaxLength)
//   "stream: Heuristics.Limits.Exceeded.* FOUND\0" → kTooLarge (AlertExceedsMax: clamd could
//     not scan it whole; the bytes are unscanned, not known bad)
//   "... ERROR\0" (any other)  → kUnavailable (clamd could not scan now: a retry may work)
// Anything else (no NUL, a NUL inside, control characters, another prefix, over
// kMaxReplyBytes) → kCorrupt, naming what is wrong. Every error's reason is "clamd".
core::Result<Verdict> parse_scan_reply(std::string_view reply);

// Parses the reply to zVERSION, NUL included: "ClamAV ENGINE\0" or
// "ClamAV ENGINE/DATABASE/DATE\0" (DATABASE digits). kCorrupt for anything else.
core::Result<ClamdVersion> parse_version_reply(std::string_view reply);

// Parses the reply to zPING: exactly "PONG\0"; kCorrupt otherwise.
core::Status parse_ping_reply(std::string_view reply);

}  // namespace imgflow::scan
