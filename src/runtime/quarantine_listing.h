#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "storage/object_store.h"

namespace imgflow::runtime {

// An upload the scanner found infected, as the quarantine bucket keeps it (function/handler.cpp:
// "<source key>@<ETag>", with imgflow-signature in its metadata).
struct QuarantinedUpload {
  std::string key;         // in the quarantine bucket
  std::string source_key;  // where it was uploaded: the key without "@<ETag>"
  std::string signature;   // what the scanner found; "" if the object carries no verdict
  std::uint64_t size = 0;
  core::Clock::TimePoint quarantined_at;
};

struct Quarantine {
  std::string bucket;
  std::vector<QuarantinedUpload> uploads;  // in key order
  bool truncated = false;                  // more than the listing's maximum
};

// The first `max` objects of the quarantine bucket, each with its signature (one HEAD per
// object: a listing does not carry metadata). A bucket that does not exist yet is an empty
// quarantine. Errors: the store's.
core::Result<Quarantine> list_quarantine(storage::ObjectStore& store, const std::string& bucket,
                                         std::size_t max = 1000);

}  // namespace imgflow::runtime
