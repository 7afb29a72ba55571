// LocalStore's DeadLetters: outbox events a host gave up on. Moving an event between the
// outbox and the dead letters is one transaction, so it is never in both, nor in neither.

#include <mutex>

#include "storage/local_store_impl.h"

namespace imgflow::storage {
namespace {

using local::from_ms;
using local::to_ms;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::string_view kDeadLetterColumns =
    "id, event_name, bucket, key, etag, size, sequencer, payload, created_ms, event_attempts, "
    "error, failure, attempts, first_seen_ms, last_failed_ms, in_order";

DeadLetter read_dead_letter_row(const Statement& s) {
  DeadLetter letter;
  letter.id = s.column_int(0);
  letter.event = OutboxEvent{letter.id,
                             s.column_text(1),
                             s.column_text(2),
                             s.column_text(3),
                             s.column_text(4),
                             static_cast<std::uint64_t>(s.column_int(5)),
                             s.column_text(6),
                             s.column_text(7),
                             from_ms(s.column_int(8)),
                             static_cast<int>(s.column_int(9))};
  letter.error = s.column_text(10);
  letter.failure = s.column_text(11);
  letter.attempts = static_cast<int>(s.column_int(12));
  letter.first_seen = from_ms(s.column_int(13));
  letter.last_failed = from_ms(s.column_int(14));
  letter.event.in_order = s.column_int(15) != 0;
  return letter;
}

core::Error no_dead_letter(std::int64_t id) {
  return core::Error{core::ErrorCode::kNotFound, "no dead letter " + std::to_string(id)};
}

}  // namespace

core::Status LocalStore::add_dead_letter(const DeadLetter& letter,
                                         const std::optional<EventToRecord>& notice) {
  std::lock_guard lock(impl_->write_mu);
  auto txn = Transaction::begin(impl_->write_db);
  if (!txn) return core::fail(txn.error());
  auto s = impl_->write_db.prepare(
      "INSERT OR REPLACE INTO dead_letters(" + std::string(kDeadLetterColumns) +
      ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
      "?14, ?15, ?16)");
  if (!s) return core::fail(s.error());
  const OutboxEvent& e = letter.event;
  auto st = s->bind_int(1, letter.id)
                .bind_text(2, e.event_name)
                .bind_text(3, e.bucket)
                .bind_blob(4, e.key)
                .bind_text(5, e.etag)
                .bind_int(6, static_cast<std::int64_t>(e.size))
                .bind_text(7, e.sequencer)
                .bind_blob(8, e.payload)
                .bind_int(9, to_ms(e.created))
                .bind_int(10, e.attempts)
                .bind_text(11, letter.error)
                .bind_text(12, letter.failure)
                .bind_int(13, letter.attempts)
                .bind_int(14, to_ms(letter.first_seen))
                .bind_int(15, to_ms(letter.last_failed))
                .bind_int(16, e.in_order ? 1 : 0)
                .run();
  if (!st) return st;
  auto d = impl_->write_db.prepare("DELETE FROM outbox WHERE id = ?1");
  if (!d) return core::fail(d.error());
  if (auto deleted = d->bind_int(1, letter.id).run(); !deleted) return deleted;
  if (notice) {
    ObjectInfo about;
    about.key = e.key;
    about.etag = e.etag;
    about.size = e.size;
    about.sequencer = e.sequencer;
    about.last_modified = impl_->clock->now();
    if (auto inserted = impl_->insert_event(e.bucket, about, *notice); !inserted) {
      return inserted;
    }
  }
  return impl_->commit(*txn);
}

core::Result<std::vector<DeadLetter>> LocalStore::list_dead_letters() {
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  auto s = lease->db().prepare("SELECT " + std::string(kDeadLetterColumns) +
                               " FROM dead_letters ORDER BY id");
  if (!s) return core::fail(s.error());
  std::vector<DeadLetter> out;
  while (true) {
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) break;
    out.push_back(read_dead_letter_row(*s));
  }
  return out;
}

core::Result<DeadLetter> LocalStore::get_dead_letter(std::int64_t id) {
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  auto s = lease->db().prepare("SELECT " + std::string(kDeadLetterColumns) +
                               " FROM dead_letters WHERE id = ?1");
  if (!s) return core::fail(s.error());
  auto row = s->bind_int(1, id).step();
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(no_dead_letter(id));
  return read_dead_letter_row(*s);
}

core::Status LocalStore::remove_dead_letter(std::int64_t id) {
  std::lock_guard lock(impl_->write_mu);
  auto s = impl_->write_db.prepare("DELETE FROM dead_letters WHERE id = ?1");
  if (!s) return core::fail(s.error());
  return s->bind_int(1, id).run();
}

core::Result<std::uint64_t> LocalStore::count_dead_letters() {
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  auto s = lease->db().prepare("SELECT count(*) FROM dead_letters");
  if (!s) return core::fail(s.error());
  auto row = s->step();
  if (!row) return core::fail(row.error());
  return static_cast<std::uint64_t>(s->column_int(0));
}

core::Result<std::int64_t> LocalStore::redrive(std::int64_t id) {
  std::lock_guard lock(impl_->write_mu);
  const std::int64_t now = to_ms(impl_->clock->now());
  auto txn = Transaction::begin(impl_->write_db);
  if (!txn) return core::fail(txn.error());
  // One statement copies the row, so the event's fields never pass through memory.
  auto s = impl_->write_db.prepare(
      "INSERT INTO outbox(event_name, bucket, key, etag, size, sequencer, payload, created_ms, "
      "visible_at_ms, in_order) SELECT event_name, bucket, key, etag, size, sequencer, payload, "
      "?1, ?1, in_order FROM dead_letters WHERE id = ?2 RETURNING id");
  if (!s) return core::fail(s.error());
  auto row = s->bind_int(1, now).bind_int(2, id).step();
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(no_dead_letter(id));
  const std::int64_t new_id = s->column_int(0);
  if (auto st = s->run(); !st) return core::fail(st.error());
  auto d = impl_->write_db.prepare("DELETE FROM dead_letters WHERE id = ?1");
  if (!d) return core::fail(d.error());
  if (auto st = d->bind_int(1, id).run(); !st) return core::fail(st.error());
  if (auto st = impl_->commit(*txn); !st) return core::fail(st.error());
  return new_id;
}

}  // namespace imgflow::storage
