#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

#include "core/error.h"

namespace imgflow::core {

// Result<T> crosses module boundaries: a value or an Error. (tl::expected today;
// std::expected is a one-line switch once the toolchain has it.)
template <typename T>
using Result = tl::expected<T, Error>;

// Result of an operation that has no value.
using Status = Result<void>;

// Builds the error side of any Result: `return fail(ErrorCode::kNotFound, "no such key");`
inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline tl::unexpected<Error> fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

}  // namespace imgflow::core
