#pragma once

#include <string>
#include <string_view>

namespace imgflow::sigv4 {

// Percent-encodes every byte except the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~), upper-case
// hex, as SigV4 requires. '/' is kept when `keep_slash` (paths) and encoded otherwise (query).
std::string uri_encode(std::string_view bytes, bool keep_slash);

// Decodes %XX escapes. A '%' not followed by two hex digits stays literal, so every input has
// one decoding and canonicalisation never fails. `plus_is_space` applies form rules ('+' → ' '),
// which S3-compatible servers use for query strings but never for paths.
std::string percent_decode(std::string_view text, bool plus_is_space);

// Compares without an early exit, so the time taken does not reveal how many leading bytes of a
// guessed signature were right. The length is not secret (signatures have a fixed length).
bool constant_time_equals(std::string_view a, std::string_view b);

// True for exactly `length` lower-case hex digits (length 0: any non-empty length).
bool is_lower_hex(std::string_view text, std::size_t length = 0);

// ASCII lower-casing; header names are ASCII tokens.
std::string to_lower(std::string_view text);

}  // namespace imgflow::sigv4
