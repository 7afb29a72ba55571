#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// Text helpers every module shares: one definition of well-formed UTF-8, and one way to show
// untrusted text to a person.
namespace imgflow::core {

// The length (1..4) of the well-formed UTF-8 sequence that starts `bytes`, or 0 if it does not
// start with one: an empty view, a stray continuation byte, a truncated sequence, an overlong
// form, a surrogate (U+D800..DFFF) or a code point past U+10FFFF.
std::size_t utf8_sequence_length(std::string_view bytes);

// True if all of `bytes` is well-formed UTF-8 (as utf8_sequence_length defines it). Control
// characters are well-formed: refusing them is the caller's decision.
bool is_valid_utf8(std::string_view bytes);

// The code points of `utf8`; a byte that does not start a well-formed sequence becomes U+FFFD.
std::u32string utf8_code_points(std::string_view utf8);

// `text` made safe to print on a terminal or in a one-line-per-record listing: C0 controls (CR
// and LF would forge rows, ESC would drive the terminal), DEL, C1 controls and bytes that are
// not well-formed UTF-8 become \xNN; printable UTF-8 passes unchanged. For object keys and error
// messages, whose bytes an uploader chooses.
std::string escape_for_terminal(std::string_view text);

}  // namespace imgflow::core
