#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace imgflow::events {

// The key encoding of S3 event notifications: ' ' becomes '+', the RFC 3986 unreserved bytes
// (A-Z a-z 0-9 - . _ ~) and '/' stay, every other byte becomes %XX (upper-case hex). AWS keeps
// '/' in event keys ("photos/my+cat.jpg"); MinIO encodes it as %2F, which decodes the same.
std::string form_url_encode(std::string_view bytes);

// Reverses form_url_encode and any other form encoding: '+' is a space, %XX (either case) a byte.
// kInvalidArgument for a '%' not followed by two hex digits or a result that is not UTF-8.
// Pure; thread-safe.
core::Result<std::string> form_url_decode(std::string_view text);

}  // namespace imgflow::events
