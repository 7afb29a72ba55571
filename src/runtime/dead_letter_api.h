#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "runtime/quarantine_listing.h"
#include "storage/dead_letters.h"

namespace imgflow::runtime {

// The operator's view of the dead-letter store, as JSON over a few paths. `imgflow serve`
// exposes it to the admin under /_imgflow/ (the gateway authenticates); `imgflow dlq` calls it
// there, or in-process on the data dir when no server holds it. One implementation, so both
// ways answer alike:
//
//   GET    dlq               {"dead_letters":[LETTER...]}, oldest first
//   GET    dlq/ID            LETTER
//   POST   dlq/ID/redrive    {"id":ID,"event_id":NEW}: back into the outbox as event NEW
//   DELETE dlq/ID            {"id":ID,"deleted":true}: forgotten for good
//   GET    quarantine        {"bucket":B,"truncated":BOOL,"quarantined":[UPLOAD...]}
//
// UPLOAD = {"key","source_key","signature","size","quarantined_at"}: the infected uploads the
// quarantine bucket holds (runtime/quarantine_listing.h); kNotFound when nothing is scanned.
// LETTER = {"id","failure","error","attempts","first_seen","last_failed",
//           "event":{"name","bucket","key","size","etag","sequencer","created","payload"}}
// with times as "2026-11-26T12:34:56.789Z". A failure is a core::Error, not an HTTP status
// (the gateway chooses those): kInvalidArgument (a bad id), kNotFound (no such dead letter,
// path or action), kUnsupported (the method), or the store's own error. Thread-safe if the
// store is.
class DeadLetterApi {
 public:
  // How a redrive is carried out: a running Dispatcher's redrive() (which also wakes it), or
  // the store's own when nothing runs.
  using Redrive = std::function<core::Result<std::int64_t>(std::int64_t id)>;
  // The quarantine as it is now; kNotFound when the recipe does not quarantine.
  using ListQuarantine = std::function<core::Result<Quarantine>()>;

  DeadLetterApi(storage::DeadLetters& letters, Redrive redrive, ListQuarantine quarantine = {});

  // The JSON answer. `path` is below the mount point, e.g. "dlq/17/redrive".
  core::Result<std::string> handle(std::string_view method, std::string_view path) const;

 private:
  core::Result<std::string> list() const;
  core::Result<std::string> show(std::int64_t id) const;
  core::Result<std::string> redrive(std::int64_t id) const;
  core::Result<std::string> remove(std::int64_t id) const;
  core::Result<std::string> quarantine() const;

  storage::DeadLetters& letters_;
  Redrive redrive_;
  ListQuarantine quarantine_;
};

}  // namespace imgflow::runtime
