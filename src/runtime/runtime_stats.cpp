#include "runtime/runtime_stats.h"

namespace imgflow::runtime {
namespace {

core::Counter& invocation_errors(core::MetricsRegistry& registry, const char* kind) {
  return registry.counter("imgflow_invocation_errors_total", "Failed invocations by kind.",
                          {{"kind", kind}});
}

core::Counter& notifications(core::MetricsRegistry& registry, const char* outcome) {
  return registry.counter("imgflow_notifications_total",
                          "Notification deliveries by outcome: delivered, retried (will be sent "
                          "again), dead_lettered (given up on).",
                          {{"outcome", outcome}});
}

}  // namespace

RuntimeStats::RuntimeStats(core::MetricsRegistry& registry)
    : invocations(registry.counter("imgflow_invocations_total", "Function invocations started.")),
      succeeded(registry.counter("imgflow_invocations_succeeded_total",
                                 "Events processed successfully.")),
      errors_transient(invocation_errors(registry, "transient")),
      errors_permanent(invocation_errors(registry, "permanent")),
      errors_timeout(invocation_errors(registry, "timeout")),
      errors_exception(invocation_errors(registry, "exception")),
      retries(
          registry.counter("imgflow_retries_total", "Events retried after a transient failure.")),
      dead_lettered(registry.counter("imgflow_dead_lettered_total",
                                     "Events moved to the dead-letter store.")),
      expired(registry.counter("imgflow_events_expired_total",
                               "Events dead-lettered for being older than the maximum age.")),
      redriven(registry.counter("imgflow_redriven_total",
                                "Dead letters put back into the event queue.")),
      storage_errors(registry.counter("imgflow_dispatcher_storage_errors_total",
                                      "Event-queue operations (claim, ack, nack, dead-letter) "
                                      "that failed.")),
      notifications_delivered(notifications(registry, "delivered")),
      notifications_retried(notifications(registry, "retried")),
      notifications_dead_lettered(notifications(registry, "dead_lettered")),
      invocation_seconds(registry.histogram("imgflow_invocation_duration_seconds",
                                            "Time inside the function, per invocation.")),
      settle_seconds(registry.histogram("imgflow_settle_duration_seconds",
                                        "Time recording an invocation's outcome in the queue.")),
      queue_depth(registry.gauge("imgflow_queue_depth", "Upload events not yet processed.")),
      dlq_size(registry.gauge("imgflow_dlq_size", "Events in the dead-letter store.")),
      queued(registry.gauge("imgflow_events_queued", "Events claimed, waiting for a worker.")),
      in_flight(
          registry.gauge("imgflow_invocations_in_flight",
                         "Events held by a worker (running, or timed out and not returned).")),
      peak_outstanding(registry.gauge("imgflow_events_outstanding_peak",
                                      "The most events claimed at once (queued and in flight).")) {}

}  // namespace imgflow::runtime
