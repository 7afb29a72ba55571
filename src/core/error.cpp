#include "core/error.h"

namespace imgflow::core {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kTooLarge:
      return "too large";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kPermissionDenied:
      return "permission denied";
    case ErrorCode::kFailedPrecondition:
      return "failed precondition";
    case ErrorCode::kAlreadyExists:
      return "already exists";
    case ErrorCode::kTimeout:
      return "timeout";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string out(core::to_string(code));
  out += ": ";
  if (!reason.empty()) {
    out += reason;
    out += ": ";
  }
  out += message;
  return out;
}

Error Error::with_context(std::string_view context) const {
  std::string text(context);
  text += ": ";
  text += message;
  return Error{code, std::move(text), reason};
}

}  // namespace imgflow::core
