#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

// Byte codings every module shares, each written once: hexadecimal, percent-encoding (RFC 3986,
// as SigV4 and S3 keys use it) and ASCII case. UTF-8 lives beside them in core/text.h; base64
// and the constant-time compare with the digests in core/digest.h.
namespace imgflow::core {

// 0..15 for a hex digit of either case, -1 for anything else.
int hex_digit_value(char c);

// Lower-case hexadecimal of arbitrary bytes.
std::string to_hex(std::string_view bytes);

// The bytes of an even-length string of hex digits (either case); nullopt for anything else.
std::optional<std::string> from_hex(std::string_view hex);

// True for exactly `length` lower-case hex digits (length 0: any non-empty length).
bool is_lower_hex(std::string_view text, std::size_t length = 0);

// Percent-encodes every byte except the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~), upper-case
// hex, as SigV4 requires. '/' is kept when `keep_slash` (paths) and encoded otherwise (query).
std::string uri_encode(std::string_view bytes, bool keep_slash);

// Decodes %XX escapes. A '%' not followed by two hex digits stays literal, so every input has
// one decoding and canonicalisation never fails. `plus_is_space` applies form rules ('+' → ' '),
// which S3-compatible servers use for query strings but never for paths.
std::string percent_decode(std::string_view text, bool plus_is_space);

// The same decoding for text that must be well-formed: a '%' not followed by two hex digits is
// an error naming its offset (kInvalidArgument).
Result<std::string> percent_decode_strict(std::string_view text, bool plus_is_space);

// A decimal number of 1..20 digits that fits 64 bits, nothing else (no sign, no spaces): the
// lengths, sizes and part numbers of HTTP and S3.
std::optional<std::uint64_t> parse_u64(std::string_view text);

// Whether JSON text nests arrays and objects at most `max_depth` deep (brackets inside strings
// do not count). Untrusted JSON is checked with it before a recursive parser, and its recursive
// destructor, can be made to exhaust the stack. Says nothing about well-formedness.
bool json_nesting_within(std::string_view json, int max_depth);

// ASCII lower-casing; header names are ASCII tokens.
std::string to_lower(std::string_view text);

// ASCII case-insensitive equality (header names, media types).
bool iequals(std::string_view a, std::string_view b);

}  // namespace imgflow::core
