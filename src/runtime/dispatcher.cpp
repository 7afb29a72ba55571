#include "runtime/dispatcher.h"

#include <algorithm>
#include <utility>

#include "events/event_json.h"
#include "events/event_record.h"
#include "function/notification.h"

namespace imgflow::runtime {
namespace {

// The wait before retry number `attempts` (1 after the first failure): `base`, doubling each
// time, at most `cap`.
std::chrono::milliseconds backoff(
    std::chrono::milliseconds base, int attempts,
    std::chrono::milliseconds cap = std::chrono::milliseconds::max()) {
  const auto doubled = base * (1LL << std::clamp(attempts - 1, 0, 20));
  return std::min<std::chrono::milliseconds>(doubled, cap);
}

using SteadyClock = std::chrono::steady_clock;

std::size_t workers_for(const DispatcherOptions& options) {
  if (options.workers > 0) return options.workers;
  return default_worker_count(core::machine_resources(),
                              std::uint64_t(options.invoker.memory_limit_mb) << 20U);
}

// A lease shorter than the invocation timeout would let a second delivery start while the first
// may still run, so a too-short setting is raised to just above the timeout.
std::chrono::milliseconds visibility_for(const DispatcherOptions& options) {
  const auto timeout = options.invoker.timeout;
  if (options.visibility_timeout.count() <= 0) return 2 * timeout + std::chrono::seconds(60);
  return std::max(options.visibility_timeout, timeout + std::chrono::seconds(1));
}

// The first failed record's reason: what an operator needs to see in the DLQ.
std::string failed_reason(const function::InvocationResult& result, function::Failure failure) {
  for (const auto& record : result.records) {
    if (record.failure == failure) return record.key + ": " + record.reason;
  }
  return std::string(function::to_string(failure));
}

}  // namespace

std::size_t default_worker_count(const core::MachineResources& machine,
                                 std::uint64_t memory_per_image) {
  const std::size_t by_cores = 2 * std::size_t(std::max(1, machine.cores));
  if (memory_per_image == 0) return by_cores;
  const std::uint64_t by_memory = machine.memory_bytes / 4 * 3 / memory_per_image;
  return std::max<std::size_t>(1, std::min<std::uint64_t>(by_cores, by_memory));
}

// What one invocation means for its event.
struct Dispatcher::Verdict {
  enum class Action { kAck, kRetry, kDeadLetter } action = Action::kAck;
  std::string failure;  // "transient", "permanent", "timeout", "exception"; "" on success
  std::string error;
  std::optional<function::Notification> notice{};  // with kAck: recorded by the ack
};

Dispatcher::Dispatcher(storage::Outbox& outbox, storage::DeadLetters& dead_letters,
                       Function function, core::Logger& logger, const core::Clock& clock,
                       DispatcherOptions options)
    : outbox_(outbox),
      dead_letters_(dead_letters),
      logger_(logger),
      clock_(clock),
      options_(std::move(options)),
      workers_(workers_for(options_)),
      queue_capacity_(options_.queue_capacity > 0 ? options_.queue_capacity : 2 * workers_),
      visibility_timeout_(visibility_for(options_)),
      invoker_(std::move(function), logger, options_.invoker),
      own_metrics_(options_.metrics == nullptr ? std::make_unique<core::MetricsRegistry>()
                                               : nullptr),
      stats_(options_.metrics != nullptr ? *options_.metrics : *own_metrics_) {}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;  // a stopped dispatcher stays stopped
  started_ = true;
  for (std::size_t i = 0; i < workers_; ++i) {
    worker_threads_.emplace_back([this] { worker_loop(); });
  }
  dispatcher_thread_ = std::thread([this] { dispatch_loop(); });
}

void Dispatcher::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !started_) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
  }
  space_cv_.notify_all();
  if (dispatcher_thread_.joinable()) dispatcher_thread_.join();
  // Claimed but not started: give them back now rather than when their lease runs out.
  std::deque<storage::OutboxEvent> unstarted;
  {
    std::lock_guard lock(mu_);
    unstarted.swap(queue_);
    outstanding_ -= unstarted.size();
    stats_.queued.set(0);
  }
  for (const auto& event : unstarted) {
    if (auto st = outbox_.nack(event.id, std::chrono::milliseconds(0)); !st) {
      stats_.storage_errors.add();
    }
  }
  work_cv_.notify_all();
  for (auto& worker : worker_threads_) worker.join();
  worker_threads_.clear();
  refresh_gauges(/*force=*/true);
}

void Dispatcher::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  space_cv_.notify_all();
}

core::Result<std::int64_t> Dispatcher::redrive(std::int64_t id) {
  auto new_id = dead_letters_.redrive(id);
  if (!new_id) return new_id;
  stats_.redriven.add();
  logger_.info("dead letter redriven", {{"dead_letter_id", id}, {"event_id", *new_id}});
  refresh_gauges(/*force=*/true);
  wake();
  return new_id;
}

void Dispatcher::dispatch_loop() {
  while (true) {
    std::size_t free = 0;
    {
      std::unique_lock lock(mu_);
      space_cv_.wait(lock, [&] { return stopping_ || outstanding_ < capacity(); });
      if (stopping_) return;
      free = capacity() - outstanding_;
    }
    refresh_gauges();
    if (!claim_batch(free)) wait_idle();
  }
}

// Sleeps until the next poll, wake() or stop(). The outbox has no change notification (a
// writer may be another component), so an idle dispatcher polls.
void Dispatcher::wait_idle() {
  std::unique_lock lock(mu_);
  space_cv_.wait_for(lock, options_.poll_interval, [&] { return stopping_ || woken_; });
  woken_ = false;
}

bool Dispatcher::claim_batch(std::size_t free) {
  auto claimed = outbox_.claim(free, visibility_timeout_);
  if (!claimed) {
    stats_.storage_errors.add();
    logger_.warn("outbox claim failed", {{"error", claimed.error().to_string()}});
    return false;
  }
  if (claimed->empty()) return false;
  const auto now = clock_.now();
  for (auto& event : *claimed) {
    if (now - event.created > options_.max_event_age) {
      stats_.expired.add();
      dead_letter(event, "max-age", "event older than the maximum event age", event.attempts - 1);
      continue;
    }
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(event));
    ++outstanding_;
    stats_.queued.add(1);
    stats_.peak_outstanding.raise_to(static_cast<std::int64_t>(outstanding_));
    work_cv_.notify_one();
  }
  return true;
}

// Counting is a query per store: at most once per poll interval unless `force`d.
void Dispatcher::refresh_gauges(bool force) {
  {
    std::lock_guard lock(mu_);
    const auto now = SteadyClock::now();
    if (!force && now - gauges_refreshed_ < options_.poll_interval) return;
    gauges_refreshed_ = now;
  }
  if (auto pending = outbox_.count_pending()) {
    stats_.queue_depth.set(static_cast<std::int64_t>(*pending));
  }
  if (auto dead = dead_letters_.count_dead_letters()) {
    stats_.dlq_size.set(static_cast<std::int64_t>(*dead));
  }
}

std::string Dispatcher::object_of(const storage::OutboxEvent& event) {
  return event.bucket + '\0' + event.key;
}

std::deque<storage::OutboxEvent>::iterator Dispatcher::next_runnable() {
  return std::find_if(queue_.begin(), queue_.end(), [this](const storage::OutboxEvent& e) {
    return !busy_objects_.contains(object_of(e));
  });
}

void Dispatcher::worker_loop() {
  while (true) {
    storage::OutboxEvent event;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || next_runnable() != queue_.end(); });
      const auto next = next_runnable();
      if (next == queue_.end()) return;  // stopping, and nothing left that was started
      event = std::move(*next);
      queue_.erase(next);
      busy_objects_.insert(object_of(event));
      stats_.queued.add(-1);
      stats_.in_flight.add(1);
    }
    process(event);  // returns only after a timed-out function has returned too
    {
      std::lock_guard lock(mu_);
      busy_objects_.erase(object_of(event));
      --outstanding_;
      stats_.in_flight.add(-1);
    }
    work_cv_.notify_all();  // an event for the same object may be waiting for this one
    space_cv_.notify_one();
  }
}

void Dispatcher::process(const storage::OutboxEvent& event) {
  if (function::notification_type(event.event_name)) {
    notify(event);
    return;
  }
  stats_.invocations.add();
  Verdict verdict;
  {
    Invocation invocation = invoker_.invoke(event_json(event));
    stats_.invocation_seconds.observe(std::chrono::duration<double>(invocation.duration).count());
    switch (invocation.status) {
      case InvokeStatus::kTimedOut:
        stats_.errors_timeout.add();
        verdict = {Verdict::Action::kRetry, "timeout", invocation.result.error().message};
        break;
      case InvokeStatus::kThrew:
        stats_.errors_exception.add();
        verdict = {Verdict::Action::kRetry, "exception", invocation.result.error().message};
        break;
      case InvokeStatus::kReturned:
        if (!invocation.result) {
          // The handler refuses the body itself (not an event): redelivery cannot help.
          stats_.errors_permanent.add();
          verdict = {Verdict::Action::kDeadLetter, "permanent",
                     invocation.result.error().to_string()};
        } else if (invocation.result->should_retry()) {
          stats_.errors_transient.add();
          verdict = {Verdict::Action::kRetry, "transient",
                     failed_reason(*invocation.result, function::Failure::kTransient)};
        } else if (invocation.result->failed_permanent > 0) {
          stats_.errors_permanent.add();
          verdict = {Verdict::Action::kDeadLetter, "permanent",
                     failed_reason(*invocation.result, function::Failure::kPermanent)};
        } else if (!invocation.result->records.empty()) {
          verdict.notice = std::move(invocation.result->records.front().notification);
        }
        break;
    }
    // Settle before waiting for a straggler, so the retry clock starts at the timeout.
    settle(event, verdict);
  }  // a timed-out function's thread is joined here
}

void Dispatcher::settle(const storage::OutboxEvent& event, const Verdict& verdict) {
  const auto start = SteadyClock::now();
  switch (verdict.action) {
    case Verdict::Action::kAck: {
      const auto delivery = to_deliver(verdict.notice);
      if (auto st = delivery ? outbox_.ack(event.id, *delivery) : outbox_.ack(event.id); !st) {
        // The lease expires and the event comes back; the handler makes that a no-op.
        stats_.storage_errors.add();
        logger_.warn("outbox ack failed",
                     {{"event_id", event.id}, {"error", st.error().to_string()}});
      } else {
        publish(verdict.notice);
      }
      stats_.succeeded.add();
      if (delivery) wake();  // deliver it now, not at the next poll
      break;
    }
    case Verdict::Action::kRetry:
      if (event.attempts >= options_.max_attempts) {
        dead_letter(
            event, verdict.failure,
            "gave up after " + std::to_string(event.attempts) + " attempts: " + verdict.error,
            event.attempts);
        break;
      }
      {
        const auto delay = backoff(options_.retry_backoff, event.attempts);
        logger_.warn("invocation failed, will retry",
                     {{"event_id", event.id},
                      {"attempt", event.attempts},
                      {"failure", verdict.failure},
                      {"error", verdict.error},
                      {"retry_in_ms", static_cast<std::int64_t>(delay.count())}});
        if (auto st = outbox_.nack(event.id, delay); !st) stats_.storage_errors.add();
        stats_.retries.add();
      }
      break;
    case Verdict::Action::kDeadLetter:
      dead_letter(event, verdict.failure, verdict.error, event.attempts);
      break;
  }
  stats_.settle_seconds.observe(std::chrono::duration<double>(SteadyClock::now() - start).count());
}

void Dispatcher::dead_letter(const storage::OutboxEvent& event, const std::string& failure,
                             const std::string& error, int attempts) {
  storage::DeadLetter letter{event.id, event,         error,       failure,
                             attempts, event.created, clock_.now()};
  const auto notice = failure_notice(event, failure, error, attempts);
  if (auto st = dead_letters_.add_dead_letter(letter, to_deliver(notice)); !st) {
    // Not lost: the event stays in the outbox and its lease runs out.
    stats_.storage_errors.add();
    logger_.error("dead-lettering failed",
                  {{"event_id", event.id}, {"error", st.error().to_string()}});
    return;
  }
  stats_.dead_lettered.add();
  stats_.dlq_size.add(1);
  publish(notice);
  logger_.error("event dead-lettered", {{"event_id", event.id},
                                        {"bucket", event.bucket},
                                        {"key", event.key},
                                        {"failure", failure},
                                        {"attempts", attempts},
                                        {"error", error}});
}

std::optional<function::Notification> Dispatcher::failure_notice(const storage::OutboxEvent& event,
                                                                 const std::string& failure,
                                                                 const std::string& error,
                                                                 int attempts) const {
  // Only sources are reported on: never a notification itself (no loops), nor a delete.
  const bool heard =
      options_.feed != nullptr ||
      (options_.notifier != nullptr && options_.notifier->wants(recipe::NotifyEvent::kFailed));
  if (!heard || !event.event_name.starts_with("ObjectCreated:")) return std::nullopt;
  return function::failed_notification({event.bucket, event.key, event.etag, event.size}, failure,
                                       error, attempts, clock_.now());
}

std::optional<storage::EventToRecord> Dispatcher::to_deliver(
    const std::optional<function::Notification>& notice) const {
  if (!notice || options_.notifier == nullptr || !options_.notifier->wants(notice->type)) {
    return std::nullopt;
  }
  return storage::EventToRecord{function::notification_event_name(notice->type), notice->body,
                                true};
}

void Dispatcher::publish(const std::optional<function::Notification>& notice) {
  if (notice && options_.feed != nullptr) {
    options_.feed->publish(recipe::to_string(notice->type), notice->id, notice->body);
  }
}

// A notification's delivery: no invocation, its own retry policy, no notice about itself.
void Dispatcher::notify(const storage::OutboxEvent& notification) {
  const auto start = SteadyClock::now();
  core::Status delivered = options_.notifier != nullptr ? options_.notifier->deliver(notification)
                                                        : core::fail(core::ErrorCode::kUnavailable,
                                                                     "no webhooks are configured");
  const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
  if (delivered) {
    logger_.info("notification delivered", {{"event_id", notification.id},
                                            {"type", notification.event_name},
                                            {"bucket", notification.bucket},
                                            {"key", notification.key},
                                            {"attempt", notification.attempts},
                                            {"duration_ms", ms}});
    if (auto st = outbox_.ack(notification.id); !st) stats_.storage_errors.add();
    stats_.notifications_delivered.add();
    return;
  }
  const std::string& error = delivered.error().message;
  if (notification.attempts >= options_.notify_max_attempts) {
    stats_.notifications_dead_lettered.add();
    dead_letter(notification, "undelivered",
                "gave up after " + std::to_string(notification.attempts) + " attempts: " + error,
                notification.attempts);
    return;
  }
  const auto delay =
      backoff(options_.notify_retry_backoff, notification.attempts, options_.notify_max_backoff);
  logger_.warn("notification not delivered, will retry",
               {{"event_id", notification.id},
                {"type", notification.event_name},
                {"key", notification.key},
                {"attempt", notification.attempts},
                {"error", error},
                {"retry_in_ms", static_cast<std::int64_t>(delay.count())}});
  if (auto st = outbox_.nack(notification.id, delay); !st) stats_.storage_errors.add();
  stats_.notifications_retried.add();
}

std::string Dispatcher::event_json(const storage::OutboxEvent& event) const {
  events::EventRecord record;
  record.event_name = event.event_name;
  record.aws_region = options_.region;
  record.event_time = events::format_event_time(event.created);
  record.bucket = event.bucket;
  record.key = event.key;
  record.size = event.size;
  record.etag = event.etag;
  record.sequencer = event.sequencer;
  return events::to_aws_json({record});
}

}  // namespace imgflow::runtime
