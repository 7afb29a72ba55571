// LocalStore's Outbox: the events writes record in their transaction, leased out to the
// dispatcher (claim), then removed (ack) or put back for later (nack).

#include <mutex>

#include "storage/local_store_impl.h"

namespace imgflow::storage {

using local::from_ms;
using local::to_ms;
using sqlite::Transaction;

core::Result<std::vector<OutboxEvent>> LocalStore::claim(
    std::size_t max_events, std::chrono::milliseconds visibility_timeout) {
  std::lock_guard lock(impl_->write_mu);
  const std::int64_t now = to_ms(impl_->clock->now());
  auto txn = Transaction::begin(impl_->write_db);
  if (!txn) return core::fail(txn.error());
  auto s = impl_->write_db.prepare(
      "SELECT id, event_name, bucket, key, etag, size, sequencer, payload, created_ms, attempts, "
      "in_order FROM outbox AS e WHERE visible_at_ms <= ?1 AND NOT (in_order AND EXISTS ("
      "SELECT 1 FROM outbox AS earlier WHERE earlier.bucket = e.bucket AND earlier.key = e.key "
      "AND earlier.id < e.id)) ORDER BY id LIMIT ?2");
  if (!s) return core::fail(s.error());
  s->bind_int(1, now).bind_int(2, static_cast<std::int64_t>(max_events));
  std::vector<OutboxEvent> out;
  while (true) {
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) break;
    out.push_back(OutboxEvent{s->column_int(0), s->column_text(1), s->column_text(2),
                              s->column_text(3), s->column_text(4),
                              static_cast<std::uint64_t>(s->column_int(5)), s->column_text(6),
                              s->column_text(7), from_ms(s->column_int(8)),
                              static_cast<int>(s->column_int(9)) + 1, s->column_int(10) != 0});
  }
  for (const auto& event : out) {
    auto u = impl_->write_db.prepare(
        "UPDATE outbox SET visible_at_ms = ?1, attempts = attempts + 1, status = 'leased' "
        "WHERE id = ?2");
    if (!u) return core::fail(u.error());
    if (auto st = u->bind_int(1, now + visibility_timeout.count()).bind_int(2, event.id).run();
        !st) {
      return core::fail(st.error());
    }
  }
  if (auto st = impl_->commit(*txn); !st) return core::fail(st.error());
  return out;
}

core::Status LocalStore::ack(std::int64_t id) {
  std::lock_guard lock(impl_->write_mu);
  auto s = impl_->write_db.prepare("DELETE FROM outbox WHERE id = ?1");
  if (!s) return core::fail(s.error());
  return s->bind_int(1, id).run();
}

core::Status LocalStore::ack(std::int64_t id, const EventToRecord& notice) {
  std::lock_guard lock(impl_->write_mu);
  auto txn = Transaction::begin(impl_->write_db);
  if (!txn) return core::fail(txn.error());
  auto s = impl_->write_db.prepare(
      "DELETE FROM outbox WHERE id = ?1 RETURNING bucket, key, etag, size, sequencer");
  if (!s) return core::fail(s.error());
  auto row = s->bind_int(1, id).step();
  if (!row) return core::fail(row.error());
  if (!*row) return {};  // acked before: its notice was recorded then
  const std::string bucket = s->column_text(0);
  ObjectInfo about;
  about.key = s->column_text(1);
  about.etag = s->column_text(2);
  about.size = static_cast<std::uint64_t>(s->column_int(3));
  about.sequencer = s->column_text(4);
  about.last_modified = impl_->clock->now();
  if (auto st = s->run(); !st) return st;
  if (auto st = impl_->insert_event(bucket, about, notice); !st) return st;
  return impl_->commit(*txn);
}

core::Status LocalStore::nack(std::int64_t id, std::chrono::milliseconds retry_after) {
  std::lock_guard lock(impl_->write_mu);
  auto s = impl_->write_db.prepare(
      "UPDATE outbox SET visible_at_ms = ?1, status = 'pending' WHERE id = ?2");
  if (!s) return core::fail(s.error());
  const std::int64_t visible_at = to_ms(impl_->clock->now()) + retry_after.count();
  if (auto st = s->bind_int(1, visible_at).bind_int(2, id).run(); !st) return st;
  if (impl_->write_db.changes() == 0) {
    return core::fail(core::ErrorCode::kNotFound,
                      "no outbox event " + std::to_string(id) + " (already acked?)");
  }
  return {};
}

core::Result<std::uint64_t> LocalStore::count_pending() {
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  auto s = lease->db().prepare("SELECT count(*) FROM outbox");
  if (!s) return core::fail(s.error());
  auto row = s->step();
  if (!row) return core::fail(row.error());
  return static_cast<std::uint64_t>(s->column_int(0));
}

}  // namespace imgflow::storage
