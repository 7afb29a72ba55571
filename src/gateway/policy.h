#pragma once

#include <string>
#include <string_view>

#include "gateway/s3_request.h"

namespace imgflow::gateway {

// The three principals of embedded mode, mirroring IAM (ARCHITECTURE.md "Least privilege").
enum class Principal { kAnonymous, kFunction, kAdmin };

std::string_view to_string(Principal principal);
// "admin" / "function" as stored in sigv4::SecretKey::principal; anything else is anonymous.
Principal principal_from(std::string_view name);

struct BucketRoles {
  std::string source = "uploads";         // anonymous uploads land here; events come from here
  std::string destination = "processed";  // private; written only by the function role
};

// Whether `principal` may run `op` on `bucket`. Deny by default: only the listed grants allow.
//   admin:     everything.
//   function:  GetObject/HeadObject on source; PutObject and multipart writes on destination,
//              plus GetObject/HeadObject there (the handler reads its own manifest.json to stay
//              idempotent).
//   anonymous: PutObject and PostObject into source only (size and content-type limits are
//              checked by the handler once the request is parsed).
// Operational endpoints (health, ready, metrics) are open to all; the other /_imgflow/ paths
// (kAdmin) are the admin's alone. Pure; thread-safe.
bool is_allowed(Principal principal, Operation op, std::string_view bucket,
                const BucketRoles& roles);

}  // namespace imgflow::gateway
