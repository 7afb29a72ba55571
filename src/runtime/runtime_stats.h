#pragma once

#include "core/metrics.h"

namespace imgflow::runtime {

// A Dispatcher's counters and gauges: series in a core::MetricsRegistry, which renders them
// (Prometheus on /_imgflow/metrics, EMF on Lambda) with everything else the process measures.
// Any thread may read or update them at any time (each value is exact; the set is not one
// snapshot). The names are those of /_imgflow/metrics, listed in the README.
struct RuntimeStats {
  explicit RuntimeStats(core::MetricsRegistry& registry);

  // Counters: only ever grow.
  core::Counter& invocations;       // function calls started
  core::Counter& succeeded;         // events acked after a successful call
  core::Counter& errors_transient;  // calls that failed and may succeed later
  core::Counter& errors_permanent;  // calls that failed for good (bad input)
  core::Counter& errors_timeout;    // calls that exceeded the timeout
  core::Counter& errors_exception;  // calls that threw
  core::Counter& retries;           // events nacked for another attempt
  core::Counter& dead_lettered;     // events moved to the DLQ (any reason)
  core::Counter& expired;           // of those, for exceeding the max event age
  core::Counter& redriven;          // DLQ entries put back into the outbox
  core::Counter& storage_errors;    // claim/ack/nack/DLQ calls that failed
  // Notifications (recipe notify:): sent and acknowledged, to be sent again, given up on.
  core::Counter& notifications_delivered;
  core::Counter& notifications_retried;
  core::Counter& notifications_dead_lettered;  // also counted in dead_lettered
  core::Histogram& invocation_seconds;         // time inside the function, per call
  core::Histogram& settle_seconds;             // time acking, nacking, dead-lettering, per event

  // Gauges.
  core::Gauge& queue_depth;       // outbox count_pending(), refreshed each poll
  core::Gauge& dlq_size;          // dead letters, refreshed each poll and change
  core::Gauge& queued;            // claimed, waiting for a worker
  core::Gauge& in_flight;         // held by a worker (running, or timed out and not returned)
  core::Gauge& peak_outstanding;  // highest queued + in_flight seen
};

}  // namespace imgflow::runtime
