#include "function/handler.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/digest.h"
#include "events/event_parser.h"
#include "events/form_url.h"
#include "function/manifest.h"
#include "function/output_layout.h"
#include "image/image.h"
#include "scan/clamd_client.h"

namespace imgflow::function {
namespace {

using core::ErrorCode;
using storage::ObjectInfo;

// A step either yields its value or ends the record with an outcome.
template <typename T>
using Step = tl::expected<T, RecordOutcome>;
using Stop = tl::unexpected<RecordOutcome>;

// ETags are compared without the quotes S3 puts around them on the wire.
std::string_view unquoted(std::string_view etag) { return unquoted_etag(etag); }

bool has_stamp(const ObjectInfo& info) {
  for (const auto& [name, value] : info.user_metadata) {
    if (name.starts_with(kStampPrefix)) return true;
  }
  return false;
}

// Storage failures that may clear up by themselves are worth a retry; the rest (a bad key, a
// missing bucket, a refused permission) will fail the same way next time.
Failure storage_failure(const core::Error& error) {
  switch (error.code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kInternal:
      return Failure::kTransient;
    default:
      return Failure::kPermanent;
  }
}

// The image engine is deterministic: the same bytes and recipe fail the same way, except when
// libvips itself could not run (kInternal: memory, a missing module), which a retry may fix.
Failure image_failure(const core::Error& error) {
  return error.code == ErrorCode::kInternal || error.code == ErrorCode::kUnavailable
             ? Failure::kTransient
             : Failure::kPermanent;
}

// The scanner recipe.scan asks for: the one given, else a client of the recipe's clamd.
std::shared_ptr<const scan::Scanner> scanner_of(const HandlerConfig& config) {
  const recipe::Scan& s = config.recipe.scan;
  if (!s.enabled) return nullptr;
  if (config.scanner) return config.scanner;
  return std::make_shared<const scan::ClamdClient>(
      s.clamd, scan::ClamdOptions{.timeout = std::chrono::milliseconds(s.timeout_ms),
                                  .max_bytes = s.max_bytes});
}

std::string generator_of(const HandlerConfig& config) {
  return config.generator.empty() ? default_generator() : config.generator;
}

void tally(InvocationResult& result, const RecordOutcome& outcome) {
  switch (outcome.kind) {
    case OutcomeKind::kProcessed:
      ++result.processed;
      break;
    case OutcomeKind::kSkippedLoopGuard:
      ++result.skipped_loop_guard;
      break;
    case OutcomeKind::kSkippedStale:
      ++result.skipped_stale;
      break;
    case OutcomeKind::kAlreadyDone:
      ++result.already_done;
      break;
    case OutcomeKind::kRemoved:
      ++result.removed;
      break;
    case OutcomeKind::kIgnored:
      ++result.ignored;
      break;
    case OutcomeKind::kInfected:
      ++result.infected;
      break;
    case OutcomeKind::kFailed:
      ++(outcome.failure == Failure::kTransient ? result.failed_transient
                                                : result.failed_permanent);
      break;
  }
}

}  // namespace

// The series one handler records into. Looked up once; recording is lock-free.
struct Handler::Instruments {
  enum Stage { kCheck, kFetch, kRender, kStore, kTotal, kStages };
  enum ScanVerdict { kClean, kInfected, kError, kVerdicts };

  explicit Instruments(core::MetricsRegistry& registry)
      : source_bytes(registry.counter("imgflow_source_bytes_total",
                                      "Bytes of source images fetched by the function.")),
        output_bytes(registry.counter("imgflow_output_bytes_total",
                                      "Bytes of variants and manifests written by the function.")) {
    constexpr std::array<const char*, kStages> kNames = {"check", "fetch", "render", "store",
                                                         "total"};
    for (std::size_t i = 0; i < kStages; ++i) {
      stages[i] = &registry.histogram(
          "imgflow_stage_duration_seconds",
          "Time per step of a processed upload: check (head, idempotency), fetch, render (decode, "
          "resize, watermark, encode), store (variants and manifest), total.",
          {{"stage", kNames[i]}});
    }
    for (const OutcomeKind kind :
         {OutcomeKind::kProcessed, OutcomeKind::kSkippedLoopGuard, OutcomeKind::kSkippedStale,
          OutcomeKind::kAlreadyDone, OutcomeKind::kRemoved, OutcomeKind::kIgnored,
          OutcomeKind::kInfected, OutcomeKind::kFailed}) {
      outcomes[static_cast<std::size_t>(kind)] =
          &registry.counter("imgflow_records_total", "Event records handled, by outcome.",
                            {{"outcome", std::string(to_string(kind))}});
    }
    constexpr std::array<const char*, kVerdicts> kVerdictNames = {"clean", "infected", "error"};
    for (std::size_t i = 0; i < kVerdicts; ++i) {
      scans[i] = &registry.counter(
          "imgflow_scans_total",
          "Malware scans of sources, by verdict (error: the scanner could not answer).",
          {{"verdict", kVerdictNames[i]}});
    }
  }

  core::Counter& source_bytes;
  core::Counter& output_bytes;
  std::array<core::Histogram*, kStages> stages{};
  std::array<core::Counter*, static_cast<std::size_t>(OutcomeKind::kFailed) + 1> outcomes{};
  std::array<core::Counter*, kVerdicts> scans{};
};

std::string_view to_string(Failure failure) {
  switch (failure) {
    case Failure::kNone:
      return "none";
    case Failure::kPermanent:
      return "permanent";
    case Failure::kTransient:
      return "transient";
  }
  return "unknown";
}

std::string_view to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kProcessed:
      return "processed";
    case OutcomeKind::kSkippedLoopGuard:
      return "skipped_loop_guard";
    case OutcomeKind::kSkippedStale:
      return "skipped_stale";
    case OutcomeKind::kAlreadyDone:
      return "already_done";
    case OutcomeKind::kRemoved:
      return "removed";
    case OutcomeKind::kIgnored:
      return "ignored";
    case OutcomeKind::kInfected:
      return "infected";
    case OutcomeKind::kFailed:
      return "failed";
  }
  return "unknown";
}

// The work of one record: its steps, each a small function, and the log line of each. Lives
// for one handle_record() call on one thread.
class Handler::Run {
 public:
  Run(const Handler& handler, const events::EventRecord& record, std::string_view request_id)
      : h_(handler),
        record_(record),
        request_id_(request_id),
        layout_(handler.planner_.layout(record.key)),
        started_(handler.clock_.now()),
        record_start_(std::chrono::steady_clock::now()),
        lap_start_(record_start_) {}

  RecordOutcome dispatch() {
    note(core::LogLevel::kInfo, "received", "", record_.size, record_.event_name);
    switch (record_.kind()) {
      case events::EventKind::kCreated:
        return created();
      case events::EventKind::kRemoved:
        return removed();
      case events::EventKind::kTest:
      case events::EventKind::kOther:
        break;
    }
    return skip(OutcomeKind::kIgnored, "event " + record_.event_name + " is not acted on").value();
  }

 private:
  RecordOutcome created() {
    // No I/O first: our own bucket and prefix are known from the event alone.
    if (auto ok = guard_by_key(); !ok) return ok.error();
    // The current version, not the event's word: events arrive late, twice and out of order.
    auto source = head_source();
    if (!source) return source.error();
    if (auto ok = guard_by_stamp(*source); !ok) return ok.error();
    if (auto ok = check_fresh(*source); !ok) return ok.error();
    // Idempotency before reading a byte: redelivery must cost a head and a small get.
    auto previous = read_manifest();
    if (!previous) return previous.error();
    auto plan = plan_for(*previous, *source);
    if (!plan) {
      RecordOutcome done = plan.error();
      if (done.kind == OutcomeKind::kAlreadyDone) attach_processed(done, *source, **previous);
      return done;
    }
    lap(Instruments::kCheck);
    auto bytes = fetch(*source);  // refuses an oversized source before reading it
    if (!bytes) return bytes.error();
    lap(Instruments::kFetch);
    // Before any decoder: infected bytes never reach libvips, let alone a published variant.
    auto scanned = scan_once(*source, *bytes, *previous, *plan);
    if (!scanned) return scanned.error();
    auto processed = render(*bytes, *plan);  // one decode; nothing written yet
    if (!processed) return processed.error();
    lap(Instruments::kRender);
    // Rendering takes long enough for a newer upload to land; its own event makes its outputs,
    // and these must not be written over them. (Hosts that run one object's events one at a
    // time, as the embedded runtime does, never meet this; Lambda may.)
    if (auto ok = check_still_current(*source); !ok) return ok.error();
    const std::vector<Output> outputs = outputs_of(*processed);
    // The old marker must not vouch for a set that is about to be replaced piece by piece.
    if (auto ok = retract(*previous, *plan, outputs); !ok) return ok.error();
    auto manifest = store_variants(*source, *bytes, *processed, outputs, *previous, *plan);
    if (!manifest) return manifest.error();
    manifest->scan = std::move(*scanned);
    // Last: its presence says every variant above is in place.
    if (auto ok = store_manifest(*manifest); !ok) return ok.error();
    lap(Instruments::kStore);
    observe(Instruments::kTotal, record_start_);
    prune(*previous, *manifest);  // after the commit: keys only the old recipe made
    RecordOutcome done = finish(OutcomeKind::kProcessed, keys_of(outputs));
    done.kept = kept_keys(*manifest, *plan);
    attach_processed(done, *source, *manifest);
    return done;
  }

  RecordOutcome removed() {
    if (auto ok = guard_by_key(); !ok) return ok.error();
    if (!h_.config_.delete_variants_on_remove) {
      return skip(OutcomeKind::kIgnored, "delete_variants_on_remove is off").value();
    }
    // A delete event that arrives after a re-upload must not take the new outputs with it.
    if (auto ok = check_source_gone(); !ok) return ok.error();
    auto previous = read_manifest();
    if (!previous) return previous.error();
    if (!*previous) return finish(OutcomeKind::kRemoved, {});  // nothing there: idempotent
    if ((*previous)->source.key != record_.key) {
      return skip(OutcomeKind::kIgnored, "the outputs belong to " + (*previous)->source.key)
          .value();
    }
    // Variants first, the manifest last: if a delete fails, the retry still finds the list.
    std::vector<std::string> deleted = keys_of(**previous);
    for (const std::string& key : deleted) {
      if (auto ok = remove(key); !ok) return ok.error();
    }
    if (auto ok = remove(manifest_key()); !ok) return ok.error();
    deleted.push_back(manifest_key());
    return finish(OutcomeKind::kRemoved, std::move(deleted));
  }

  // ---- Steps -----------------------------------------------------------------------------

  Step<void> guard_by_key() const {
    const HandlerConfig& c = h_.config_;
    // One bucket for both: the destination is the prefix within it.
    const bool shared = c.destination_bucket == c.source_bucket ||
                        (c.source_bucket.empty() && !c.destination_prefix.empty());
    if (record_.bucket == c.destination_bucket) {
      if (under_destination_prefix(record_.key)) {
        return skip(OutcomeKind::kSkippedLoopGuard, "key is under the destination prefix");
      }
      if (!shared) {
        return skip(OutcomeKind::kSkippedLoopGuard, "object is in the destination bucket");
      }
    }
    if (!c.source_bucket.empty() && record_.bucket != c.source_bucket) {
      return skip(OutcomeKind::kIgnored, "bucket " + record_.bucket + " is not the source");
    }
    if (record_.key.ends_with('/')) return skip(OutcomeKind::kIgnored, "folder marker");
    return {};
  }

  Step<ObjectInfo> head_source() const {
    auto info = h_.source_.head(record_.bucket, record_.key);
    if (info) return std::move(*info);
    if (info.error().code == ErrorCode::kNotFound) {
      return skip(OutcomeKind::kSkippedStale, "source is gone (deleted since the event)");
    }
    return fail_storage("head source", info.error());
  }

  Step<void> guard_by_stamp(const ObjectInfo& source) const {
    if (has_stamp(source)) {
      return skip(OutcomeKind::kSkippedLoopGuard, "object carries imgflow-* metadata");
    }
    return {};
  }

  Step<void> check_fresh(const ObjectInfo& source) const {
    // An event without an ETag (some producers) can only mean the current version.
    if (!record_.etag.empty() && unquoted(record_.etag) != unquoted(source.etag)) {
      return skip(OutcomeKind::kSkippedStale,
                  "source was overwritten (ETag " + source.etag + "); a newer event will come");
    }
    note(core::LogLevel::kInfo, "checked", "", source.size);
    return {};
  }

  Step<void> check_still_current(const ObjectInfo& checked) const {
    auto now = head_source();
    if (!now) return Stop(std::move(now.error()));
    if (unquoted(now->etag) != unquoted(checked.etag)) {
      return skip(OutcomeKind::kSkippedStale, "source was overwritten while it was processed");
    }
    return {};
  }

  Step<void> check_source_gone() const {
    auto info = h_.source_.head(record_.bucket, record_.key);
    if (info) return skip(OutcomeKind::kSkippedStale, "source was uploaded again");
    if (info.error().code == ErrorCode::kNotFound) return {};
    return fail_storage("head source", info.error());
  }

  // The manifest already in the destination; nullopt if absent or unreadable as a manifest
  // (then it is overwritten, as if absent).
  Step<std::optional<Manifest>> read_manifest() const {
    auto json = h_.destination_.get_string(h_.config_.destination_bucket, manifest_key());
    if (!json) {
      if (json.error().code == ErrorCode::kNotFound) return std::optional<Manifest>();
      return fail_storage("get manifest", json.error());
    }
    auto manifest = parse_manifest(*json);
    if (!manifest) {
      note(core::LogLevel::kWarn, "checked", "", json->size(),
           "existing manifest ignored: " + manifest.error().message);
      return std::optional<Manifest>();
    }
    return std::optional<Manifest>(std::move(*manifest));
  }

  // What the previous manifest leaves to do; stops with kAlreadyDone when it matches the source
  // ETag and the recipe. Variants it would keep whose object is gone or changed are made again.
  Step<RenderPlan> plan_for(const std::optional<Manifest>& previous,
                            const ObjectInfo& source) const {
    RenderPlan plan = h_.planner_.plan(previous, record_.key, source.etag);
    if (plan.kind == RenderPlan::Kind::kCurrent) {
      return skip(OutcomeKind::kAlreadyDone, "manifest matches source ETag and recipe");
    }
    if (previous && previous->source.key != record_.key) {
      // Only a manifest written under an older layout, in which "cat.jpg" and "cat.png" shared
      // a folder, can belong to another source: the old set is replaced, never this upload
      // refused for its name.
      note(core::LogLevel::kWarn, "checked", "", 0,
           "replacing outputs that an older key layout made for " + previous->source.key);
    }
    if (plan.kind == RenderPlan::Kind::kPartial) {
      if (auto ok = confirm_kept(*previous, plan); !ok) return Stop(std::move(ok.error()));
    }
    return plan;
  }

  // A kept variant must still be there as the manifest lists it: one HEAD each.
  Step<void> confirm_kept(const Manifest& previous, RenderPlan& plan) const {
    std::vector<std::string> confirmed;
    for (const std::string& name : plan.kept) {
      const auto entry = std::find_if(previous.variants.begin(), previous.variants.end(),
                                      [&](const ManifestVariant& v) { return v.name == name; });
      auto info = h_.destination_.head(h_.config_.destination_bucket, entry->key);
      if (!info && info.error().code != ErrorCode::kNotFound) {
        return fail_storage("head " + entry->key, info.error());
      }
      if (info && unquoted(info->etag) == unquoted(entry->etag)) {
        confirmed.push_back(name);
      } else {
        note(core::LogLevel::kWarn, "checked", name, 0,
             entry->key + " is not as the manifest lists it: made again");
        plan.changed.push_back(name);
      }
    }
    plan.kept = std::move(confirmed);
    return {};
  }

  Step<std::string> fetch(const ObjectInfo& source) const {
    const std::uint64_t limit = h_.config_.recipe.limits.max_input_bytes;
    if (source.size > limit) {
      return fail(
          Failure::kPermanent, "fetch",
          core::Error{ErrorCode::kTooLarge, "source is " + std::to_string(source.size) +
                                                " bytes; the limit is " + std::to_string(limit)});
    }
    auto reader = h_.source_.open(record_.bucket, record_.key);
    if (!reader) {
      if (reader.error().code == ErrorCode::kNotFound) {
        return skip(OutcomeKind::kSkippedStale, "source was deleted while starting to read");
      }
      return fail_storage("open source", reader.error());
    }
    // The version opened must be the one checked above, or the size limit says nothing.
    if (unquoted((*reader)->info().etag) != unquoted(source.etag)) {
      return skip(OutcomeKind::kSkippedStale, "source was overwritten while starting to read");
    }
    std::string bytes((*reader)->length(), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
      auto n = (*reader)->read(bytes.data() + got, bytes.size() - got);
      if (!n) return fail_storage("read source", n.error());
      if (*n == 0) break;
      got += *n;
    }
    if (got != bytes.size()) {
      return fail(Failure::kTransient, "read source",
                  core::Error{ErrorCode::kUnavailable,
                              "source body ended after " + std::to_string(got) + " of " +
                                  std::to_string(bytes.size()) + " bytes"});
    }
    note(core::LogLevel::kInfo, "fetched", "", bytes.size());
    if (h_.instruments_) h_.instruments_->source_bytes.add(bytes.size());
    return bytes;
  }

  // nullopt without recipe.scan; otherwise who scanned a clean source. An infected source ends
  // the record (contained); a scanner that cannot answer fails it transiently: fail closed.
  // The bytes of a source version are scanned once: re-rendering them for a changed recipe keeps
  // the scan the manifest records.
  Step<std::optional<ManifestScan>> scan_once(const ObjectInfo& source, const std::string& bytes,
                                              const std::optional<Manifest>& previous,
                                              const RenderPlan& plan) const {
    if (h_.scanner_ && plan.kind == RenderPlan::Kind::kPartial && previous->scan) {
      note(core::LogLevel::kInfo, "scanned", "", bytes.size(),
           "scanned before, by " + previous->scan->scanned_by);
      return previous->scan;
    }
    return scan_source(source, bytes);
  }

  Step<std::optional<ManifestScan>> scan_source(const ObjectInfo& source,
                                                const std::string& bytes) const {
    if (!h_.scanner_) return std::optional<ManifestScan>();
    auto verdict = h_.scanner_->scan(bytes);
    if (!verdict) {
      count_scan(Instruments::kError);
      return fail(Failure::kTransient, "scan", verdict.error());
    }
    if (verdict->infected()) {
      count_scan(Instruments::kInfected);
      return Stop(contain(source, bytes, verdict->signature));
    }
    count_scan(Instruments::kClean);
    note(core::LogLevel::kInfo, "scanned", "", bytes.size(), "clean");
    return std::optional<ManifestScan>(scanned_by());
  }

  // The scanner's versions are a record, not a gate: if it cannot say, the manifest says so.
  ManifestScan scanned_by() const {
    ManifestScan record{h_.scanner_->name(), "", ""};
    if (auto version = h_.scanner_->version()) {
      record.engine = version->engine;
      record.database = version->database;
    } else {
      note(core::LogLevel::kWarn, "scanned", "", 0,
           "scanner version unknown: " + version.error().to_string());
    }
    return record;
  }

  // Keeps an infected upload away from everyone but the admin: copied into the quarantine
  // bucket (per scan.on_infected), then deleted from the source. Retried as a whole on failure.
  RecordOutcome contain(const ObjectInfo& source, const std::string& bytes,
                        const std::string& signature) const {
    const recipe::Scan& policy = h_.config_.recipe.scan;
    std::string reason = "infected: " + signature;
    if (policy.on_infected == recipe::OnInfected::kQuarantine) {
      if (auto ok = quarantine(source, bytes, signature); !ok) return ok.error();
      reason += "; quarantined as " + policy.quarantine_bucket + "/" + quarantine_key(source);
    }
    // A newer upload under the same key is not this one: it gets its own event and scan.
    if (auto ok = check_still_current(source); !ok) return ok.error();
    if (auto ok = h_.source_.delete_object(record_.bucket, record_.key); !ok) {
      return fail_storage("delete infected source", ok.error()).value();
    }
    reason += "; deleted from " + record_.bucket;
    note(core::LogLevel::kWarn, "infected", "", bytes.size(), reason);
    RecordOutcome contained =
        outcome(OutcomeKind::kInfected, Failure::kNone, std::move(reason), {});
    if (notifies(recipe::NotifyEvent::kQuarantined)) {
      const bool kept = policy.on_infected == recipe::OnInfected::kQuarantine;
      contained.notification = quarantined_notification(
          source_ref(source), signature, kept ? policy.quarantine_bucket : "",
          kept ? quarantine_key(source) : "", h_.clock_.now());
    }
    return contained;
  }

  Step<void> quarantine(const ObjectInfo& source, const std::string& bytes,
                        const std::string& signature) const {
    storage::PutOptions options;
    options.content_type = source.content_type;
    // Stamped: the loop guard never processes it, and an admin sees why it is there.
    options.user_metadata = stamps(source.etag, h_.planner_.recipe_hash());
    options.user_metadata.emplace(kStampScan, "infected");
    options.user_metadata.emplace(kStampSignature, signature);
    const std::string& bucket = h_.config_.recipe.scan.quarantine_bucket;
    const std::string key = quarantine_key(source);
    auto stored = h_.source_.put(bucket, key, bytes, options);
    if (!stored) return fail_storage("put " + bucket + "/" + key, stored.error());
    return {};
  }

  // "<source key>@<ETag>": each infected upload keeps its own copy (a second one under the same
  // key must not replace the first one's evidence), and a retry of the same upload rewrites
  // the same copy. Listing the source key as a prefix finds every copy.
  std::string quarantine_key(const ObjectInfo& source) const {
    return record_.key + "@" + std::string(unquoted(source.etag));
  }

  void count_scan(Instruments::ScanVerdict verdict) const {
    if (h_.instruments_) h_.instruments_->scans[verdict]->add();
  }

  // Encodes every variant the plan does not keep (the decode and resizes are shared by all).
  Step<image::Processed> render(std::string_view bytes, const RenderPlan& plan) const {
    const recipe::Recipe& recipe = h_.config_.recipe;
    std::vector<bool> encode;
    for (const recipe::Variant& v : recipe.variants) encode.push_back(!plan.keeps(v.name));
    auto processed = image::process(bytes, recipe, encode);
    if (!processed) {
      return fail(image_failure(processed.error()), "process", processed.error());
    }
    for (const image::Rendition& r : processed->renditions) {
      note(core::LogLevel::kInfo, "resized", r.variant, r.bytes.size());
      if (r.watermarked) note(core::LogLevel::kInfo, "watermarked", r.variant, r.bytes.size());
    }
    for (const std::string& name : plan.kept) note(core::LogLevel::kInfo, "kept", name, 0);
    return std::move(*processed);
  }

  // A rendition and the key it is stored under.
  struct Output {
    const image::Rendition* rendition;
    std::string sha256;  // hex, of its bytes
    std::string key;
  };

  std::vector<Output> outputs_of(const image::Processed& processed) const {
    std::vector<Output> outputs;
    for (const image::Rendition& r : processed.renditions) {
      std::string sha256 = core::to_hex(core::sha256(r.bytes));
      std::string key = layout_.variant_key(r.variant, recipe::extension(r.format), sha256);
      outputs.push_back({&r, std::move(sha256), std::move(key)});
    }
    return outputs;
  }

  // Needed when a key the old manifest lists is about to be rewritten, or the manifest is of
  // another version of the source. New keys alone leave the old manifest true until the new one
  // replaces it.
  Step<void> retract(const std::optional<Manifest>& previous, const RenderPlan& plan,
                     const std::vector<Output>& outputs) const {
    if (!previous) return {};
    const bool same_version = plan.kind == RenderPlan::Kind::kPartial;
    const bool overwrites = std::any_of(outputs.begin(), outputs.end(), [&](const Output& o) {
      return std::any_of(previous->variants.begin(), previous->variants.end(),
                         [&](const ManifestVariant& v) { return v.key == o.key; });
    });
    if (same_version && !overwrites) return {};
    return remove(manifest_key());
  }

  // Every variant in recipe order: the kept entries of the previous manifest as they were, the
  // others stored now.
  Step<Manifest> store_variants(const ObjectInfo& source, const std::string& bytes,
                                const image::Processed& processed,
                                const std::vector<Output>& outputs,
                                const std::optional<Manifest>& previous,
                                const RenderPlan& plan) const {
    Manifest manifest = manifest_for(processed, record_.key, bytes, unquoted(source.etag),
                                     h_.planner_.recipe_hash(), h_.generator_);
    const recipe::Recipe& recipe = h_.config_.recipe;
    auto next = outputs.begin();
    for (std::size_t i = 0; i < recipe.variants.size(); ++i) {
      const std::string& name = recipe.variants[i].name;
      if (plan.keeps(name)) {
        manifest.variants.push_back(
            *std::find_if(previous->variants.begin(), previous->variants.end(),
                          [&](const ManifestVariant& v) { return v.name == name; }));
        continue;
      }
      auto variant = store_variant(source, *next++, h_.planner_.variant_hashes().at(i));
      if (!variant) return Stop(std::move(variant.error()));
      manifest.variants.push_back(std::move(*variant));
    }
    return manifest;
  }

  Step<ManifestVariant> store_variant(const ObjectInfo& source, const Output& output,
                                      const std::string& variant_hash) const {
    const image::Rendition& r = *output.rendition;
    const std::string& key = output.key;
    const std::string& sha256 = output.sha256;
    storage::PutOptions options;
    options.content_type = std::string(recipe::mime_type(r.format));  // as the manifest says
    options.cache_control = h_.config_.recipe.output.variant_cache_control();
    options.user_metadata = stamps(source.etag, variant_hash);
    options.user_metadata.emplace(kStampVariant, r.variant);
    auto stored = h_.destination_.put(h_.config_.destination_bucket, key, r.bytes, options);
    if (!stored) return fail_storage("put " + key, stored.error());
    note(core::LogLevel::kInfo, "stored", r.variant, r.bytes.size());
    if (h_.instruments_) h_.instruments_->output_bytes.add(r.bytes.size());
    ManifestVariant entry = manifest_variant(r, key, sha256, variant_hash);
    entry.etag = std::string(unquoted(stored->etag));
    return entry;
  }

  Step<void> store_manifest(const Manifest& manifest) const {
    const std::string json = to_json(manifest);
    storage::PutOptions options;
    options.content_type = "application/json";
    options.cache_control = "no-cache";  // rewritten when the source or recipe changes
    options.user_metadata = stamps(manifest.source.etag, h_.planner_.recipe_hash());
    auto stored = h_.destination_.put(h_.config_.destination_bucket, manifest_key(), json, options);
    if (!stored) return fail_storage("put manifest", stored.error());
    note(core::LogLevel::kInfo, "stored", "manifest", json.size());
    if (h_.instruments_) h_.instruments_->output_bytes.add(json.size());
    return {};
  }

  // Best effort: a key left behind is an orphan, not an error, and no manifest lists it.
  void prune(const std::optional<Manifest>& previous, const Manifest& current) const {
    if (!previous) return;
    std::set<std::string> kept;
    for (const ManifestVariant& v : current.variants) kept.insert(v.key);
    for (const ManifestVariant& v : previous->variants) {
      if (kept.contains(v.key)) continue;
      if (auto ok = h_.destination_.delete_object(h_.config_.destination_bucket, v.key); !ok) {
        note(core::LogLevel::kWarn, "failed", v.name, 0,
             "prune " + v.key + ": " + ok.error().to_string());
      }
    }
  }

  Step<void> remove(const std::string& key) const {
    auto ok = h_.destination_.delete_object(h_.config_.destination_bucket, key);
    if (!ok) return fail_storage("delete " + key, ok.error());
    note(core::LogLevel::kInfo, "removed", "", 0, key);
    return {};
  }

  // ---- Keys, stamps, outcomes ------------------------------------------------------------

  bool under_destination_prefix(std::string_view key) const {
    std::string prefix = h_.config_.destination_prefix;
    if (prefix.empty()) return false;
    if (!prefix.ends_with('/')) prefix += '/';
    return key.starts_with(prefix);
  }

  std::string manifest_key() const { return layout_.manifest_key(); }

  // Marks an output as imgflow's (the loop guard) and records what it was made from. S3
  // metadata travels as HTTP headers, which are ASCII: the source key is form-URL-encoded.
  std::map<std::string, std::string> stamps(std::string_view source_etag,
                                            const std::string& recipe_hash) const {
    return {{std::string(kStampSourceKey), events::form_url_encode(record_.key)},
            {std::string(kStampSourceEtag), std::string(unquoted(source_etag))},
            {std::string(kStampRecipeHash), recipe_hash}};
  }

  bool notifies(recipe::NotifyEvent type) const {
    const auto& wanted = h_.config_.notify;
    return std::find(wanted.begin(), wanted.end(), type) != wanted.end();
  }

  SourceRef source_ref(const ObjectInfo& source) const {
    return {record_.bucket, record_.key, std::string(unquoted(source.etag)), source.size};
  }

  void attach_processed(RecordOutcome& done, const ObjectInfo& source,
                        const Manifest& manifest) const {
    if (!notifies(recipe::NotifyEvent::kProcessed)) return;
    done.notification = processed_notification(source_ref(source), h_.config_.destination_bucket,
                                               manifest_key(), manifest, h_.clock_.now());
  }

  static std::vector<std::string> keys_of(const Manifest& manifest) {
    std::vector<std::string> keys;
    for (const ManifestVariant& v : manifest.variants) keys.push_back(v.key);
    return keys;
  }

  static std::vector<std::string> keys_of(const std::vector<Output>& outputs) {
    std::vector<std::string> keys;
    keys.reserve(outputs.size());
    for (const Output& o : outputs) keys.push_back(o.key);
    return keys;
  }

  static std::vector<std::string> kept_keys(const Manifest& manifest, const RenderPlan& plan) {
    std::vector<std::string> keys;
    for (const ManifestVariant& v : manifest.variants) {
      if (plan.keeps(v.name)) keys.push_back(v.key);
    }
    return keys;
  }

  RecordOutcome outcome(OutcomeKind kind, Failure failure, std::string reason,
                        std::vector<std::string> outputs) const {
    return RecordOutcome{kind,        failure,           record_.bucket,
                         record_.key, std::move(reason), std::move(outputs)};
  }

  RecordOutcome finish(OutcomeKind kind, std::vector<std::string> outputs) const {
    note(core::LogLevel::kInfo, to_string(kind), "", 0);
    return outcome(kind, Failure::kNone, "", std::move(outputs));
  }

  Stop skip(OutcomeKind kind, std::string reason) const {
    note(core::LogLevel::kInfo, "skipped", "", 0, reason);
    return Stop(outcome(kind, Failure::kNone, std::move(reason), {}));
  }

  // The reason a dead letter keeps: the step, the kind, the precise reason when there is one.
  Stop fail(Failure failure, std::string_view step, const core::Error& error) const {
    std::string reason = std::string(step) + ": " + error.to_string();
    note(failure == Failure::kTransient ? core::LogLevel::kWarn : core::LogLevel::kError, "failed",
         "", 0, reason);
    return Stop(outcome(OutcomeKind::kFailed, failure, std::move(reason), {}));
  }

  Stop fail_storage(std::string_view step, const core::Error& error) const {
    return fail(storage_failure(error), step, error);
  }

  // Ends the stage that began at the previous lap (or the record's start).
  void lap(Instruments::Stage stage) {
    const auto now = std::chrono::steady_clock::now();
    observe(stage, lap_start_, now);
    lap_start_ = now;
  }

  void observe(Instruments::Stage stage, std::chrono::steady_clock::time_point since,
               std::chrono::steady_clock::time_point until = std::chrono::steady_clock::now()) {
    if (!h_.instruments_) return;
    h_.instruments_->stages[stage]->observe(std::chrono::duration<double>(until - since).count());
  }

  void note(core::LogLevel level, std::string_view outcome, std::string_view variant,
            std::uint64_t bytes, std::string_view reason = "") const {
    if (!h_.logger_.enabled(level)) return;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(h_.clock_.now() - started_);
    h_.logger_.log(level, "function",
                   {{"request_id", request_id_},
                    {"bucket", record_.bucket},
                    {"key", record_.key},
                    {"variant", variant},
                    {"bytes", bytes},
                    {"ms", static_cast<std::int64_t>(ms.count())},
                    {"outcome", outcome},
                    {"reason", reason}});
  }

  const Handler& h_;
  const events::EventRecord& record_;
  std::string_view request_id_;
  OutputLayout layout_;
  core::Clock::TimePoint started_;  // the clock's, for the log's "ms"
  std::chrono::steady_clock::time_point record_start_;
  std::chrono::steady_clock::time_point lap_start_;
};

Handler::Handler(const HandlerConfig& config, storage::ObjectStore& source,
                 storage::ObjectStore& destination, core::Logger& logger, const core::Clock& clock,
                 core::MetricsRegistry* metrics)
    : config_(config),
      planner_(config.recipe, config.destination_prefix),
      generator_(generator_of(config)),
      source_(source),
      destination_(destination),
      logger_(logger),
      clock_(clock),
      scanner_(scanner_of(config)),
      instruments_(metrics != nullptr ? std::make_shared<Instruments>(*metrics) : nullptr) {}

core::Result<InvocationResult> Handler::handle(std::string_view event_json,
                                               std::string_view request_id) {
  auto records = events::parse_event(event_json);
  if (!records) {
    logger_.error("function", {{"request_id", request_id},
                               {"outcome", "failed"},
                               {"reason", "event: " + records.error().to_string()}});
    return core::fail(records.error());
  }
  InvocationResult result;
  if (records->empty()) {
    logger_.info("function",
                 {{"request_id", request_id}, {"outcome", "skipped"}, {"reason", "test event"}});
  }
  for (const events::EventRecord& record : *records) {
    RecordOutcome outcome = handle_record(record, request_id);
    tally(result, outcome);
    result.records.push_back(std::move(outcome));
  }
  return result;
}

RecordOutcome Handler::handle_record(const events::EventRecord& record,
                                     std::string_view request_id) {
  RecordOutcome outcome = Run(*this, record, request_id).dispatch();
  if (instruments_) instruments_->outcomes[static_cast<std::size_t>(outcome.kind)]->add();
  return outcome;
}

}  // namespace imgflow::function
