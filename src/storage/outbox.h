#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace imgflow::storage {

// The durable event outbox. A write that records an event (PutOptions::event and friends) stores
// the object's metadata row and the event row in ONE transaction, so an acknowledged upload
// always has its event and a crashed one has neither. A dispatcher drains the outbox with
// at-least-once semantics: claim (lease) → deliver → ack, or nack to retry later.
//
// It lives in storage, not events, because it must share LocalStore's SQLite transaction
// (docs/architecture.md); src/events builds the AWS event JSON from an OutboxEvent.

// What a writer asks to record with its write. The store fills in bucket, key, ETag, size and
// sequencer of the version it commits.
struct EventToRecord {
  std::string event_name;  // e.g. "ObjectCreated:Put"; stored verbatim
  std::string payload;     // opaque to storage (requester, source IP, ...); may be empty
  // Claimable only after every earlier event about the same object (bucket and key) has left
  // the outbox, acked or dead-lettered: first in, first out per object, for consumers that
  // must see one object's events in order however their retries fall (notifications).
  bool in_order = false;
};

// One recorded event as the dispatcher sees it.
struct OutboxEvent {
  std::int64_t id = 0;  // unique, increasing in commit order
  std::string event_name;
  std::string bucket;
  std::string key;
  std::string etag;  // without quotes, as ObjectInfo::etag
  std::uint64_t size = 0;
  std::string sequencer;
  std::string payload;
  core::Clock::TimePoint created;  // commit time of the write; for a max-event-age policy
  int attempts = 0;                // how many times it has been claimed, this claim included
  bool in_order = false;           // EventToRecord::in_order
};

// Implemented by MemoryStore and LocalStore. All methods are safe to call from any thread.
class Outbox {
 public:
  virtual ~Outbox() = default;

  // Leases up to `max_events` events that are visible now (never claimed, or their lease or
  // retry delay has passed, and for an in_order event no earlier one about its object is left),
  // oldest first, and hides them for `visibility_timeout`. An event
  // that is neither acked nor nacked before the lease ends is claimable again (at-least-once:
  // consumers must tolerate duplicates). Returns an empty vector when nothing is ready.
  virtual core::Result<std::vector<OutboxEvent>> claim(
      std::size_t max_events, std::chrono::milliseconds visibility_timeout) = 0;

  // Removes the event for good. Idempotent: acking an unknown or already acked id is OK.
  virtual core::Status ack(std::int64_t id) = 0;

  // ack(id), and records `notice` about the same object (bucket, key, ETag, size, sequencer)
  // in the same transaction: a notification that the event was handled is recorded if and only
  // if the event leaves the outbox. Nothing is recorded if `id` was already acked.
  virtual core::Status ack(std::int64_t id, const EventToRecord& notice) = 0;

  // Makes the event claimable again after `retry_after` (0 = now). kNotFound if the id is
  // unknown (already acked).
  virtual core::Status nack(std::int64_t id, std::chrono::milliseconds retry_after) = 0;

  // Events not yet acked, leased ones included.
  virtual core::Result<std::uint64_t> count_pending() = 0;
};

}  // namespace imgflow::storage
