#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "function/handler.h"
#include "function/render_plan.h"
#include "storage/object_store.h"

// `imgflow reprocess`: after a recipe change, brings every source's outputs up to the recipe,
// through the same Handler an event runs (so it works on any ObjectStore: the embedded gateway,
// MinIO, AWS S3). Each source is planned from its manifest (function/render_plan.h); a source
// whose manifest is current costs one GET. Nothing is recorded between runs: the manifests are
// the record, so a run that stops (a crash, SIGKILL, Ctrl-C) is resumed by running it again.
namespace imgflow::function {

struct ReprocessOptions {
  std::string prefix{};  // only source keys that start with it
  std::string suffix{};  // and end with it (as an S3 notification's suffix filter chooses)
  bool dry_run = false;  // plan and report; write nothing
  int jobs = 1;          // sources handled at once
  // Sources re-rendered per second at most (current ones are not counted), so that live uploads
  // keep the store and the CPU; 0 = no limit.
  double rate = 0;
  // Set from another thread (a signal): no new source is started; those in hand finish.
  const std::atomic<bool>* stop = nullptr;
};

// What became of one source.
struct SourceReport {
  enum class Status {
    kCurrent,   // its manifest matches the source and the recipe
    kPlanned,   // dry run: would be rendered as the plan says
    kRendered,  // rendered as the plan says (outputs written, kept as they were)
    kSkipped,   // not a source after all (changed or deleted meanwhile, an imgflow output)
    kFailed,    // error says why; the next run tries again
  };
  std::string key;
  Status status = Status::kCurrent;
  RenderPlan plan;  // what the manifest left to do
  // kRendered: destination keys written, and those left as they were. The handler confirms each
  // object the plan keeps, and makes one that is missing again.
  std::vector<std::string> written;
  std::vector<std::string> kept;
  std::string error;  // kSkipped, kFailed: why
  std::chrono::milliseconds took{0};
};

// Counts so far, for progress lines.
struct ReprocessProgress {
  std::size_t total = 0;  // sources listed
  std::size_t done = 0;   // reported so far
  std::size_t current = 0;
  std::size_t rendered = 0;  // or planned, in a dry run
  std::size_t skipped = 0;
  std::size_t failed = 0;
  std::size_t variants_made = 0;  // written (or to write)
  std::size_t variants_kept = 0;
  std::size_t variants_removed = 0;
  std::chrono::steady_clock::duration elapsed{};
  bool stopped = false;  // ReprocessOptions::stop was set before every source was handled

  double per_second() const;
  // Time left at the rate so far; zero until one source is done.
  std::chrono::seconds eta() const;
};

class Reprocessor {
 public:
  // Called once per source, in completion order, never from two threads at once.
  using OnSource = std::function<void(const SourceReport&, const ReprocessProgress&)>;

  // `handler`'s config names the buckets and the recipe; `source` and `destination` are the
  // stores of its buckets (they may be one). All must outlive the Reprocessor.
  Reprocessor(Handler& handler, storage::ObjectStore& source, storage::ObjectStore& destination,
              ReprocessOptions options);

  // Every object under the prefix (and with the suffix) in the source bucket, in key order,
  // without folder markers
  // and (when source and destination share a bucket) the outputs under the destination
  // prefix.
  core::Result<std::vector<storage::ObjectInfo>> list_sources() const;

  // Handles `sources` with options.jobs threads; returns the final counts.
  ReprocessProgress run(const std::vector<storage::ObjectInfo>& sources, const OnSource& on_source);

 private:
  SourceReport handle(const storage::ObjectInfo& source);
  core::Result<std::optional<Manifest>> manifest_of(const std::string& key) const;
  void wait_for_turn();  // the rate limit

  Handler& handler_;
  storage::ObjectStore& source_;
  storage::ObjectStore& destination_;
  const ReprocessOptions options_;
  std::mutex turn_mutex_;
  std::chrono::steady_clock::time_point next_turn_{};
};

std::string_view to_string(SourceReport::Status status);

}  // namespace imgflow::function
