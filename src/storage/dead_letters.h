#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "storage/outbox.h"

namespace imgflow::storage {

// An outbox event that a host gave up on, with why. Kept until an operator removes or redrives
// it: the dead-letter queue of the embedded runtime (Lambda's on-failure destination).
struct DeadLetter {
  std::int64_t id = 0;  // the outbox event's id (outbox ids are never reused)
  OutboxEvent event;    // as last claimed; event.attempts is what its claim counted
  std::string error;    // the last failure's message, for a human
  std::string failure;  // its kind as the host names it ("permanent", "timeout", "max-age", ...)
  int attempts = 0;     // invocations made (0 when it expired before the first one)
  core::Clock::TimePoint first_seen;   // when the event entered the outbox (event.created)
  core::Clock::TimePoint last_failed;  // when it was dead-lettered
};

// The dead-letter store. Implemented by MemoryStore and LocalStore next to their Outbox, so an
// event moves between the two atomically and is never in both, nor in neither.
// All methods are safe to call from any thread.
class DeadLetters {
 public:
  virtual ~DeadLetters() = default;

  // Records `letter` (replacing one with the same id) and removes outbox event `letter.id`, in
  // one transaction: a crash leaves the event either still in the outbox or dead-lettered.
  // `notice`, if any, enters the outbox in that same transaction (about the letter's object
  // unless its subject says otherwise): a notification that the event failed is recorded if
  // and only if the failure is.
  virtual core::Status add_dead_letter(const DeadLetter& letter,
                                       const std::optional<EventToRecord>& notice) = 0;

  // Every dead letter, oldest id first.
  virtual core::Result<std::vector<DeadLetter>> list_dead_letters() = 0;

  // kNotFound if there is no dead letter `id`.
  virtual core::Result<DeadLetter> get_dead_letter(std::int64_t id) = 0;

  // Forgets dead letter `id`. Idempotent: removing an unknown id is OK.
  virtual core::Status remove_dead_letter(std::int64_t id) = 0;

  virtual core::Result<std::uint64_t> count_dead_letters() = 0;

  // Puts the event of dead letter `id` back into the outbox as a new event (new id, attempts 0,
  // visible now, created = now so a max-event-age policy starts afresh; name, object fields and
  // payload unchanged) and removes the dead letter, in one transaction. Returns the new outbox
  // id. kNotFound if there is no dead letter `id`.
  virtual core::Result<std::int64_t> redrive(std::int64_t id) = 0;
};

}  // namespace imgflow::storage
