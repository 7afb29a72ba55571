#include "function/reprocess.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace imgflow::function {
namespace {

using Status = SourceReport::Status;

events::EventRecord created_event(std::string_view bucket, const storage::ObjectInfo& source) {
  events::EventRecord record;
  record.event_name = "ObjectCreated:Put";
  record.bucket = std::string(bucket);
  record.key = source.key;
  record.size = source.size;
  record.etag = std::string(unquoted_etag(source.etag));
  return record;
}

// The report of a source the handler was asked to bring up to the recipe.
void take_outcome(SourceReport& report, RecordOutcome outcome) {
  switch (outcome.kind) {
    case OutcomeKind::kProcessed:
      report.status = Status::kRendered;
      report.written = std::move(outcome.outputs);
      report.kept = std::move(outcome.kept);
      return;
    case OutcomeKind::kAlreadyDone:  // another run, or an event, got there first
      report.status = Status::kCurrent;
      return;
    case OutcomeKind::kFailed:
      report.status = Status::kFailed;
      report.error = std::move(outcome.reason);
      return;
    default:  // stale, loop guard, ignored, infected: the handler said why
      report.status = Status::kSkipped;
      report.error = std::string(to_string(outcome.kind)) + ": " + outcome.reason;
      return;
  }
}

void count(ReprocessProgress& progress, const SourceReport& report) {
  ++progress.done;
  switch (report.status) {
    case Status::kCurrent:
      ++progress.current;
      return;
    case Status::kPlanned:
    case Status::kRendered:
      ++progress.rendered;
      progress.variants_made += report.status == Status::kRendered
                                    ? report.written.size()
                                    : report.plan.changed.size() + report.plan.added.size();
      progress.variants_kept +=
          report.status == Status::kRendered ? report.kept.size() : report.plan.kept.size();
      progress.variants_removed += report.plan.removed.size();
      return;
    case Status::kSkipped:
      ++progress.skipped;
      return;
    case Status::kFailed:
      ++progress.failed;
      return;
  }
}

}  // namespace

std::string_view to_string(SourceReport::Status status) {
  switch (status) {
    case Status::kCurrent:
      return "current";
    case Status::kPlanned:
      return "planned";
    case Status::kRendered:
      return "rendered";
    case Status::kSkipped:
      return "skipped";
    case Status::kFailed:
      return "failed";
  }
  return "unknown";
}

double ReprocessProgress::per_second() const {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds > 0 ? static_cast<double>(done) / seconds : 0;
}

std::chrono::seconds ReprocessProgress::eta() const {
  const double rate = per_second();
  if (done == 0 || rate <= 0) return std::chrono::seconds(0);
  return std::chrono::seconds(static_cast<std::int64_t>(static_cast<double>(total - done) / rate));
}

Reprocessor::Reprocessor(Handler& handler, storage::ObjectStore& source,
                         storage::ObjectStore& destination, ReprocessOptions options)
    : handler_(handler), source_(source), destination_(destination), options_(std::move(options)) {}

core::Result<std::vector<storage::ObjectInfo>> Reprocessor::list_sources() const {
  const HandlerConfig& config = handler_.config();
  std::string outputs = config.destination_prefix;  // in a shared bucket: not sources
  if (!outputs.empty() && !outputs.ends_with('/')) outputs += '/';
  const bool shared = config.source_bucket == config.destination_bucket;
  std::vector<storage::ObjectInfo> sources;
  storage::ListOptions page;
  page.prefix = options_.prefix;
  while (true) {
    auto listed = source_.list(config.source_bucket, page);
    if (!listed) return core::fail(listed.error());
    for (storage::ObjectInfo& object : listed->objects) {
      if (object.key.ends_with('/') || !object.key.ends_with(options_.suffix)) continue;
      if (shared && (outputs.empty() || object.key.starts_with(outputs))) continue;
      sources.push_back(std::move(object));
    }
    if (!listed->is_truncated) break;
    page.continuation_token = listed->next_continuation_token;
  }
  return sources;
}

ReprocessProgress Reprocessor::run(const std::vector<storage::ObjectInfo>& sources,
                                   const OnSource& on_source) {
  const auto started = std::chrono::steady_clock::now();
  ReprocessProgress progress;
  progress.total = sources.size();
  std::mutex progress_mutex;
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    while (true) {
      if (options_.stop != nullptr && options_.stop->load()) break;
      const std::size_t i = next.fetch_add(1);
      if (i >= sources.size()) break;
      const SourceReport report = handle(sources[i]);
      const std::scoped_lock lock(progress_mutex);
      count(progress, report);
      progress.elapsed = std::chrono::steady_clock::now() - started;
      if (on_source) on_source(report, progress);
    }
  };
  const int jobs = std::max(1, std::min<int>(options_.jobs, static_cast<int>(sources.size())));
  std::vector<std::jthread> threads;
  for (int j = 1; j < jobs; ++j) threads.emplace_back(work);
  work();
  threads.clear();  // joins
  progress.elapsed = std::chrono::steady_clock::now() - started;
  progress.stopped = progress.done < progress.total;
  return progress;
}

SourceReport Reprocessor::handle(const storage::ObjectInfo& source) {
  const auto started = std::chrono::steady_clock::now();
  SourceReport report;
  report.key = source.key;
  auto manifest = manifest_of(source.key);
  if (!manifest) {
    report.status = Status::kFailed;
    report.error = "get manifest: " + manifest.error().to_string();
  } else {
    report.plan = handler_.planner().plan(*manifest, source.key, source.etag);
    if (report.plan.kind == RenderPlan::Kind::kCurrent) {
      report.status = Status::kCurrent;
    } else if (options_.dry_run) {
      report.status = Status::kPlanned;
    } else {
      wait_for_turn();
      take_outcome(report,
                   handler_.handle_record(created_event(handler_.config().source_bucket, source),
                                          "reprocess"));
    }
  }
  report.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return report;
}

// nullopt when there is none, or it is not a manifest (the handler then treats it as absent).
core::Result<std::optional<Manifest>> Reprocessor::manifest_of(const std::string& key) const {
  const HandlerConfig& config = handler_.config();
  const std::string manifest_key = handler_.planner().layout(key).manifest_key();
  auto json = destination_.get_string(config.destination_bucket, manifest_key);
  if (!json) {
    if (json.error().code == core::ErrorCode::kNotFound) return std::optional<Manifest>();
    return core::fail(json.error());
  }
  auto parsed = parse_manifest(*json);
  if (!parsed) return std::optional<Manifest>();
  return std::optional<Manifest>(std::move(*parsed));
}

void Reprocessor::wait_for_turn() {
  if (options_.rate <= 0) return;
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / options_.rate));
  std::chrono::steady_clock::time_point turn;
  {
    const std::scoped_lock lock(turn_mutex_);
    turn = std::max(next_turn_, std::chrono::steady_clock::now());
    next_turn_ = turn + interval;
  }
  std::this_thread::sleep_until(turn);
}

}  // namespace imgflow::function
