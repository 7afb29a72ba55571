#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/metrics.h"
#include "core/result.h"
#include "runtime/event_feed.h"
#include "runtime/invoker.h"
#include "runtime/notifier.h"
#include "runtime/runtime_stats.h"
#include "storage/dead_letters.h"
#include "storage/outbox.h"

// How `imgflow serve` wires the embedded pipeline (apps/ owns the wiring; nothing here knows
// about the gateway or libvips):
//
//   auto store = storage::LocalStore::open({data_dir});        // ObjectStore+Outbox+DeadLetters
//   image::init();                                             // before the first invocation
//   function::Handler handler(config, *store, *store, logger, clock);
//   runtime::Dispatcher dispatcher(*store, *store, runtime::handler_function(handler), logger,
//                                  clock, options);
//   dispatcher.start();      // after the store is open, before the gateway accepts uploads
//   ... gateway writes objects with PutOptions::event → outbox rows (one transaction) ...
//   ... optionally gateway calls dispatcher.wake() after a write, to skip the poll wait ...
//   on SIGTERM: stop the gateway first, then dispatcher.stop(), then destroy handler and store.
//
// Declaration order in serve must make the store, handler and logger outlive the dispatcher.
// Its series go to DispatcherOptions::metrics; an admin endpoint or CLI lists the DLQ through the
// store's DeadLetters and calls dispatcher.redrive(id).
namespace imgflow::runtime {

// The pool size when none is configured: two workers per core (a worker spends about a quarter
// of each image waiting for its outputs' fsyncs and commits, and one per core left the cores
// idle that long: end-to-end 0.92x of `imgflow process` with one per core, 1.13x with two;
// docs/benchmarks.md), but no more than three quarters of the memory holds at
// `memory_per_image` each (the recipe's limits.max_memory); at least one.
std::size_t default_worker_count(const core::MachineResources& machine,
                                 std::uint64_t memory_per_image);

struct DispatcherOptions {
  // Concurrent invocations; 0 = default_worker_count(this machine, invoker.memory_limit_mb).
  std::size_t workers = 0;
  std::size_t queue_capacity = 0;  // claimed events waiting for a worker; 0 = 2 per worker.
                                   // Bounds memory under a burst: the rest stays on disk.
  InvokerOptions invoker;          // timeout and the per-image memory limit REPORT prints
  // How long a claim hides an event. Longer than the invocation timeout, so an event is not
  // delivered twice at once while its first delivery may still run; it only matters after a
  // crash (the lease then expires and the event is claimed again). 0 = 2 × timeout + 60 s;
  // a value not above the timeout is raised to timeout + 1 s.
  std::chrono::milliseconds visibility_timeout{0};
  int max_attempts = 3;  // Lambda async invocation: the first attempt plus 2 retries
  // Delay before the second attempt, doubled before each later one (1 s, then 2 s).
  std::chrono::milliseconds retry_backoff{1000};
  // Older events go to the DLQ unprocessed (Lambda's MaximumEventAgeInSeconds default).
  std::chrono::milliseconds max_event_age{std::chrono::hours(6)};
  // How often an idle dispatcher looks at the outbox; wake() cuts the wait short.
  std::chrono::milliseconds poll_interval{200};
  std::string region = "us-east-1";  // awsRegion of the events it builds
  // Delivers notifications (recipe notify:): the handler's, recorded with the ack of the event
  // they report on, and "failed" for every source event dead-lettered, recorded with its dead
  // letter. Notification events go to it, never to the function, with their own retry policy:
  // notify_retry_backoff doubling up to notify_max_backoff, dead-lettered after
  // notify_max_attempts (never reported on themselves). nullptr = no notifications.
  const Notifier* notifier = nullptr;
  // Where every outcome a notification reports is also published, webhooks or not, once it is
  // settled (the live stream of /_imgflow/events); nullptr = nowhere.
  EventFeed* feed = nullptr;
  int notify_max_attempts = 16;
  std::chrono::milliseconds notify_retry_backoff{1000};
  std::chrono::milliseconds notify_max_backoff{std::chrono::minutes(10)};
  // Where its counters and gauges are registered (serve: the registry /_imgflow/metrics
  // renders); nullptr = a registry of its own, read through stats().
  core::MetricsRegistry* metrics = nullptr;
};

// Drains the outbox into the function with Lambda's asynchronous-invocation semantics:
//  - success (nothing failed, or only skipped/ignored records) → ack;
//  - transient failure, timeout or exception → nack with backoff; after max_attempts → DLQ;
//  - permanent failure (bad image, not an event) → DLQ at once with its reason: a retry cannot
//    help;
//  - older than max_event_age when claimed → DLQ without invoking.
// Delivery is at-least-once (the handler is idempotent). One slow or failing event never holds
// up the others beyond the worker it occupies. Events for one object run one at a time, in
// claim order: two versions of an upload processed at once could finish in either order, and
// the older one's outputs must never be written over the newer one's. A function that hangs past
// the timeout cannot be killed: its worker waits for it (see Invocation::straggler) and takes no
// new work meanwhile, so threads stay bounded by `workers`; an event that hangs on every attempt
// can occupy up to max_attempts workers until its calls return (the recipe's time limits bound a
// decode).
//
// The event JSON holds one record built from the OutboxEvent (bucket, key, size, ETag,
// sequencer, name, eventTime = commit time, awsRegion); the outbox payload is not mapped yet.
//
// Memory stays flat under any backlog: the dispatcher claims only as many events as there are
// free slots (workers + queue_capacity), so at most capacity() events are in memory at once.
//
// Thread-safety: start() and stop() from one controlling thread; stats(), wake() and redrive()
// from any thread.
class Dispatcher {
 public:
  // Everything passed by reference must outlive the Dispatcher.
  Dispatcher(storage::Outbox& outbox, storage::DeadLetters& dead_letters, Function function,
             core::Logger& logger, const core::Clock& clock, DispatcherOptions options = {});
  ~Dispatcher();  // stop()s
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Spawns the dispatcher thread and the workers. Does nothing if already started or stopped.
  void start();

  // Stops claiming, returns events that are claimed but not started to the outbox (nack, no
  // delay), lets running invocations finish and settle, and joins every thread. Waits for a
  // timed-out function too: its thread cannot be killed, and the handler it uses must stay
  // alive until it returns. Idempotent.
  void stop();

  // Ends the idle wait now: call after writing an event to have it picked up at once.
  void wake();

  // Puts dead letter `id` back into the outbox (one storage transaction; see
  // DeadLetters::redrive) and wakes the dispatcher. Returns the new outbox id; kNotFound if
  // there is no such dead letter.
  core::Result<std::int64_t> redrive(std::int64_t id);

  const RuntimeStats& stats() const { return stats_; }
  std::size_t workers() const { return workers_; }
  // The most events held in memory at once (queued + in flight).
  std::size_t capacity() const { return workers_ + queue_capacity_; }

 private:
  struct Verdict;

  void dispatch_loop();
  void worker_loop();
  // Under mu_: the first queued event whose object no worker is processing.
  std::deque<storage::OutboxEvent>::iterator next_runnable();
  static std::string object_of(const storage::OutboxEvent& event);
  // Claims up to `free` events and queues them; false if nothing was ready.
  bool claim_batch(std::size_t free);
  void refresh_gauges(bool force = false);
  void process(const storage::OutboxEvent& event);
  void notify(const storage::OutboxEvent& notification);
  void settle(const storage::OutboxEvent& event, const Verdict& verdict);
  void dead_letter(const storage::OutboxEvent& event, const std::string& failure,
                   const std::string& error, int attempts);
  // The "failed" notification for a source event that is being dead-lettered, if anyone
  // (webhook or feed) hears of it.
  std::optional<function::Notification> failure_notice(const storage::OutboxEvent& event,
                                                       const std::string& failure,
                                                       const std::string& error,
                                                       int attempts) const;
  // The outbox event that delivers `notice` to the webhooks; nullopt if none subscribes.
  std::optional<storage::EventToRecord> to_deliver(
      const std::optional<function::Notification>& notice) const;
  void publish(const std::optional<function::Notification>& notice);
  std::string event_json(const storage::OutboxEvent& event) const;
  void wait_idle();

  storage::Outbox& outbox_;
  storage::DeadLetters& dead_letters_;
  core::Logger& logger_;
  const core::Clock& clock_;
  const DispatcherOptions options_;
  const std::size_t workers_;
  const std::size_t queue_capacity_;
  const std::chrono::milliseconds visibility_timeout_;
  const Invoker invoker_;
  std::unique_ptr<core::MetricsRegistry> own_metrics_;  // when options_.metrics is null
  RuntimeStats stats_;

  std::mutex mu_;
  std::condition_variable work_cv_;   // workers: an event was queued, or stopping
  std::condition_variable space_cv_;  // dispatcher: a slot came free, wake(), or stopping
  std::deque<storage::OutboxEvent> queue_;
  std::set<std::string> busy_objects_;  // bucket and key of every event a worker holds
  std::size_t outstanding_ = 0;         // queued + in flight
  bool stopping_ = false;
  bool woken_ = false;
  bool started_ = false;
  std::chrono::steady_clock::time_point gauges_refreshed_{};

  std::thread dispatcher_thread_;
  std::vector<std::thread> worker_threads_;
};

}  // namespace imgflow::runtime
