#include "gateway/policy.h"

namespace imgflow::gateway {
namespace {

bool is_read(Operation op) { return op == Operation::kGetObject || op == Operation::kHeadObject; }

bool is_write(Operation op) {
  switch (op) {
    case Operation::kPutObject:
    case Operation::kCreateMultipartUpload:
    case Operation::kUploadPart:
    case Operation::kCompleteMultipartUpload:
    case Operation::kAbortMultipartUpload:
    case Operation::kListParts:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view to_string(Principal principal) {
  switch (principal) {
    case Principal::kAnonymous:
      return "anonymous";
    case Principal::kFunction:
      return "function";
    case Principal::kAdmin:
      return "admin";
  }
  return "anonymous";
}

Principal principal_from(std::string_view name) {
  if (name == "admin") return Principal::kAdmin;
  if (name == "function") return Principal::kFunction;
  return Principal::kAnonymous;
}

bool is_allowed(Principal principal, Operation op, std::string_view bucket,
                const BucketRoles& roles) {
  if (op == Operation::kOperational) return true;
  switch (principal) {
    case Principal::kAdmin:
      return true;
    case Principal::kFunction:
      if (bucket == roles.source) return is_read(op);
      // Delete too: an ObjectRemoved event makes the handler remove the variants it wrote.
      if (bucket == roles.destination) {
        return is_read(op) || is_write(op) || op == Operation::kDeleteObject;
      }
      return false;
    case Principal::kAnonymous:
      return bucket == roles.source &&
             (op == Operation::kPutObject || op == Operation::kPostObject);
  }
  return false;
}

}  // namespace imgflow::gateway
