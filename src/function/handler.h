#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "events/event_record.h"
#include "function/notification.h"
#include "function/render_plan.h"
#include "recipe/recipe.h"
#include "scan/scanner.h"
#include "storage/object_store.h"

// The function: turns S3 event notifications into renditions. Every host (the embedded
// runtime, AWS Lambda, a cluster worker) calls the same Handler; hosts own retries, queues and
// the exception boundary, the Handler owns what one record means.
namespace imgflow::function {

// User metadata every object imgflow writes carries (x-amz-meta-imgflow-*). Any key with the
// kStampPrefix marks an object as imgflow's own output: the loop guard never processes it.
inline constexpr std::string_view kStampPrefix = "imgflow-";
inline constexpr std::string_view kStampSourceKey = "imgflow-source-key";  // form-URL-encoded
inline constexpr std::string_view kStampSourceEtag = "imgflow-source-etag";
inline constexpr std::string_view kStampRecipeHash = "imgflow-recipe-hash";
inline constexpr std::string_view kStampVariant = "imgflow-variant";  // absent on the manifest
// On a quarantined upload (with the source key and ETag): what the scanner found.
inline constexpr std::string_view kStampScan = "imgflow-scan";  // "infected"
inline constexpr std::string_view kStampSignature = "imgflow-signature";

struct HandlerConfig {
  // Events for any other bucket are not ours: ignored. "" = any bucket but the destination
  // (on AWS the bucket notification already chooses which bucket invokes the function).
  std::string source_bucket = "uploads";
  std::string destination_bucket = "processed";  // events for it are our own writes: loop guard
  // Prepended to every output key. Keys under it in the source bucket are never processed, so
  // source and destination may share one bucket ("" = no prefix, nothing excluded by it).
  std::string destination_prefix;
  bool delete_variants_on_remove = true;  // a deleted upload takes its renditions with it
  recipe::Recipe recipe = recipe::default_recipe();  // what to make; hashed once by Handler
  std::string generator;  // manifest "generator"; "" = "imgflow <version> (libvips <version>)"
  // With recipe.scan on: what scans each source. null = a ClamdClient for recipe.scan.clamd
  // (tests and other hosts may pass another scanner).
  std::shared_ptr<const scan::Scanner> scanner;
  // The outcomes the host delivers notifications for (the recipe's notify: in embedded mode, an
  // SNS topic on AWS): the handler puts a notification in those outcomes, and the host records
  // or publishes it once the event is settled. Empty = none is built.
  std::vector<recipe::NotifyEvent> notify;
};

// Why a record was not processed successfully, for the host to decide what to do with it.
enum class Failure {
  kNone,       // no failure
  kPermanent,  // the same event will fail the same way (bad image, too large): dead-letter it
  kTransient,  // storage was unavailable or slow: retry the event later
};

enum class OutcomeKind {
  kProcessed,         // every variant and then the manifest were written
  kSkippedLoopGuard,  // an object imgflow wrote (destination bucket/prefix or imgflow-* stamp)
  kSkippedStale,      // the event names a version that is gone; a newer event will come
  kAlreadyDone,       // the manifest already matches source ETag and recipe hash
  kRemoved,           // ObjectRemoved: the outputs are gone (or were never there)
  kIgnored,           // not ours: another bucket, a folder marker, a test or other event kind
  kInfected,          // the scanner found malware: quarantined or deleted, never decoded
  kFailed,            // see Failure (kept last: it sizes the per-outcome metrics)
};

std::string_view to_string(Failure failure);
std::string_view to_string(OutcomeKind kind);

struct RecordOutcome {
  OutcomeKind kind = OutcomeKind::kIgnored;
  Failure failure = Failure::kNone;  // set only with kFailed
  std::string bucket;
  std::string key;
  std::string reason;                // why it was skipped, ignored or failed; "" if processed
  std::vector<std::string> outputs;  // destination keys written (processed) or deleted (removed)
  std::vector<std::string> kept{};   // processed: keys the manifest lists, left as they were
  // For a type in HandlerConfig::notify: "processed" when processed or already done (a
  // redelivery after a crash must not lose it; its id is the same), "quarantined" when infected.
  // Failures are the host's to report: only it knows when retrying has ended.
  std::optional<Notification> notification{};
};

// What one invocation did, record by record and in total.
struct InvocationResult {
  std::vector<RecordOutcome> records;  // in event order
  int processed = 0;
  int skipped_loop_guard = 0;
  int skipped_stale = 0;
  int already_done = 0;
  int removed = 0;
  int ignored = 0;
  int infected = 0;
  int failed_permanent = 0;
  int failed_transient = 0;

  // True if any record failed transiently: the host should redeliver the whole event. Records
  // that succeeded are no-ops on redelivery (idempotency), so retrying all of them is safe.
  bool should_retry() const { return failed_transient > 0; }
};

// Processes S3 event records against a recipe.
//
// For an ObjectCreated record, in order: loop guard, head the source (stale if gone or its ETag
// differs from the event's), idempotency check against the existing manifest, fetch (size
// limit checked before reading), with recipe.scan a malware scan (infected: copied to the
// quarantine bucket and deleted, or only deleted, per scan.on_infected; a scanner that cannot
// answer is a transient failure, never a pass), one decode for all variants, PUT every
// variant, PUT the manifest last. Outputs are stamped with imgflow-* user metadata. A failure
// before the manifest leaves no manifest, so readers never see a partial set as complete. When
// the manifest is of the same source version but another recipe (RenderPlan::kPartial), only
// the variants the change affects are encoded and written: the others keep their objects (if
// they are still there with the ETag the manifest lists), and a scan the manifest records is not
// repeated. The bytes are the same as a whole run would make. For an
// ObjectRemoved record: delete the variants the manifest lists, then the manifest.
//
// Thread-safety: handle() and handle_record() may be called from many threads at once on one
// Handler: it holds only immutable state after construction, and the stores, logger and clock
// are thread-safe by their own contracts. Concurrent events for one key write identical bytes.
// libvips must have been started (image::init()) before the first call.
class Handler {
 public:
  // The stores, logger, clock and registry must outlive the Handler. `source` serves
  // source_bucket, `destination` serves destination_bucket (they may be the same store).
  // With a registry, the handler records per-stage duration histograms
  // (imgflow_stage_duration_seconds{stage="check|fetch|render|store|total"}), source and output
  // bytes, records by outcome and scans by verdict (imgflow_scans_total{verdict="clean|
  // infected|error"}) into it.
  Handler(const HandlerConfig& config, storage::ObjectStore& source,
          storage::ObjectStore& destination, core::Logger& logger, const core::Clock& clock,
          core::MetricsRegistry* metrics = nullptr);

  // Parses an event notification (AWS, MinIO, Ceph or EventBridge shape) and handles each
  // record. An s3:TestEvent yields an empty result. Returns the parser's error (kCorrupt,
  // kInvalidArgument, kTooLarge, kUnsupported) if the body is not an event: redelivering it
  // cannot help. `request_id` is logged on every line.
  core::Result<InvocationResult> handle(std::string_view event_json,
                                        std::string_view request_id = "");

  // Handles one typed record. Never throws for bad input or failed storage: every failure is
  // in the outcome.
  RecordOutcome handle_record(const events::EventRecord& record, std::string_view request_id = "");

  const HandlerConfig& config() const { return config_; }
  const RenderPlanner& planner() const { return planner_; }

 private:
  class Run;           // one record's steps (handler.cpp)
  struct Instruments;  // the registry's series this handler records into (handler.cpp)

  const HandlerConfig config_;
  const RenderPlanner planner_;  // the recipe's hashes, and what a change of them means
  const std::string generator_;
  storage::ObjectStore& source_;
  storage::ObjectStore& destination_;
  core::Logger& logger_;
  const core::Clock& clock_;
  std::shared_ptr<const scan::Scanner> scanner_;  // null: recipe.scan is off
  std::shared_ptr<Instruments> instruments_;      // null: not measured
};

}  // namespace imgflow::function
