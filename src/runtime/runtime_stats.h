#pragma once

#include <atomic>
#include <cstdint>

namespace imgflow::runtime {

// Counters and gauges of a Dispatcher, for /metrics. Every field is an atomic the Dispatcher
// updates as it goes; readers load them from any thread at any time (each value is exact, the
// set is not one snapshot).
struct RuntimeStats {
  // Counters: only ever grow.
  std::atomic<std::uint64_t> invocations{0};       // function calls started
  std::atomic<std::uint64_t> succeeded{0};         // events acked after a successful call
  std::atomic<std::uint64_t> errors_transient{0};  // calls that failed and may succeed later
  std::atomic<std::uint64_t> errors_permanent{0};  // calls that failed for good (bad input)
  std::atomic<std::uint64_t> errors_timeout{0};    // calls that exceeded the timeout
  std::atomic<std::uint64_t> errors_exception{0};  // calls that threw
  std::atomic<std::uint64_t> retries{0};           // events nacked for another attempt
  std::atomic<std::uint64_t> dead_lettered{0};     // events moved to the DLQ (any reason)
  std::atomic<std::uint64_t> expired{0};           // of those, for exceeding the max event age
  std::atomic<std::uint64_t> redriven{0};          // DLQ entries put back into the outbox
  std::atomic<std::uint64_t> storage_errors{0};    // claim/ack/nack/DLQ calls that failed
  std::atomic<std::uint64_t> invoke_micros{0};     // total time inside the function
  std::atomic<std::uint64_t> settle_micros{0};     // total time acking, nacking, dead-lettering

  // Gauges.
  std::atomic<std::uint64_t> queue_depth{0};      // outbox count_pending(), refreshed each poll
  std::atomic<std::uint64_t> dlq_size{0};         // dead letters, refreshed each poll and change
  std::atomic<std::int64_t> queued{0};            // claimed, waiting for a worker
  std::atomic<std::int64_t> in_flight{0};         // held by a worker (running, or timed out and
                                                  // not yet returned)
  std::atomic<std::int64_t> peak_outstanding{0};  // highest queued + in_flight seen
};

}  // namespace imgflow::runtime
