#include "reprocess_command.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin_access.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/text.h"
#include "function/handler.h"
#include "function/reprocess.h"
#include "http/curl_http_client.h"
#include "image/image.h"
#include "recipe/recipe.h"
#include "storage/local_store.h"
#include "storage/s3/s3_store.h"

namespace imgflow::cli {
namespace {

namespace fs = std::filesystem;
using function::RenderPlan;
using function::ReprocessProgress;
using function::SourceReport;
using Status = SourceReport::Status;

// A progress line every 5 s, and at each tenth of the sources (a short run shows a few).
class ProgressPacer {
 public:
  bool due(const ReprocessProgress& p) {
    if (p.done >= p.total) return false;  // the summary follows
    const auto now = std::chrono::steady_clock::now();
    const std::size_t tenth = p.done * 10 / p.total;
    if (now - last_ < std::chrono::seconds(5) && tenth == tenth_) return false;
    last_ = now;
    tenth_ = tenth;
    return true;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::size_t tenth_ = 0;
};

std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int /*signal*/) {
  stop_requested.store(true);
  // A second Ctrl-C is not polite any more: the default action ends the process at once. What
  // was done stays done; the next run resumes.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "imgflow reprocess: %s\n", message.c_str());
  return 2;
}

// The stores of the two buckets and what keeps them alive.
struct Stores {
  std::unique_ptr<http::CurlHttpClient> client;
  std::unique_ptr<storage::ObjectStore> store;
  std::string where;  // for the first line: "the data dir ./imgflow-data", "http://…"
  std::string url;    // the S3 endpoint; "" for AWS S3 or the data dir
};

core::Result<Stores> s3_stores(const ReprocessOptions& options) {
  auto access = s3_access(options.endpoint, options.region, options.data_dir);
  if (!access) return core::fail(access.error());
  Stores stores;
  stores.client = std::make_unique<http::CurlHttpClient>(
      static_cast<std::size_t>(std::max(8, 2 * options.jobs)));
  storage::s3::S3Config config;
  config.endpoint = access->url;
  config.region = access->region;
  config.path_style = access->path_style;
  config.credentials = access->credentials;
  auto store = storage::s3::S3Store::create(config, *stores.client);
  if (!store) return core::fail(store.error());
  stores.store = std::move(*store);
  stores.where = access->url.empty() ? "AWS S3 (" + access->region + ")" : access->url;
  stores.url = access->url;
  return stores;
}

// --endpoint or the environment's S3; else the data dir itself when no server holds it; else
// the server that does.
core::Result<Stores> open_stores(const ReprocessOptions& options) {
  if (!names_no_s3(options.endpoint)) return s3_stores(options);
  std::error_code ec;
  if (!fs::is_directory(options.data_dir, ec)) {
    return core::fail(core::ErrorCode::kNotFound,
                      "no data dir at " + options.data_dir.string() +
                          " (pass the server's --data-dir, or --endpoint for another S3)");
  }
  auto local = storage::LocalStore::open({.data_dir = options.data_dir});
  if (local) {
    Stores stores;
    stores.store = std::move(*local);
    stores.where = "the data dir " + options.data_dir.string();
    return stores;
  }
  if (local.error().code != core::ErrorCode::kUnavailable) return core::fail(local.error());
  return s3_stores(options);  // in use: through the server that runs on it
}

core::Status check_bucket(storage::ObjectStore& store, const std::string& bucket,
                          const char* role) {
  auto found = store.head_bucket(bucket);
  if (found) return {};
  return core::fail(found.error().code, std::string("the ") + role + " bucket " + bucket + ": " +
                                            found.error().to_string());
}

// The recipe hash an imgflow serve at `url` makes outputs with (its imgflow_recipe_info gauge at
// 1); nullopt from another S3, or a server that does not say.
std::optional<std::string> server_recipe_hash(http::HttpClient& client, std::string url) {
  while (url.ends_with('/')) url.pop_back();
  http::Request request;
  request.url = url + "/_imgflow/metrics";
  request.connect_timeout = std::chrono::seconds(5);
  request.timeout = std::chrono::seconds(10);
  std::string text;
  http::StringBodySink sink(text);
  auto response = client.send(request, nullptr, &sink);
  if (!response || response->status != 200) return std::nullopt;
  constexpr std::string_view kSeries = "imgflow_recipe_info{hash=\"";
  for (std::size_t at = text.find(kSeries); at != std::string::npos;
       at = text.find(kSeries, at + 1)) {
    const std::size_t begin = at + kSeries.size();
    const std::size_t end = text.find("\"} ", begin);
    if (end == std::string::npos) break;
    if (text.compare(end + 3, 2, "1\n") == 0) return text.substr(begin, end - begin);
  }
  return std::nullopt;
}

// Outputs of one recipe and uploads of another would disagree until the next run: say so.
void warn_of_another_recipe(const Stores& stores, const std::string& recipe_hash) {
  if (stores.client == nullptr || stores.url.empty()) return;
  const auto serving = server_recipe_hash(*stores.client, stores.url);
  if (!serving || *serving == recipe_hash) return;
  std::fprintf(stderr,
               "imgflow reprocess: warning: the server at %s makes outputs with recipe %.12s, "
               "this run with %.12s: reload it with the same recipe (SIGHUP after editing its "
               "--config file), or new uploads will not match\n",
               stores.url.c_str(), serving->c_str(), recipe_hash.c_str());
}

// 42s, 4m18s, 1h02m
std::string duration_text(std::chrono::seconds d) {
  const long long s = d.count();
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, (s / 60) % 60);
  }
  return text;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) {
    if (!text.empty()) text += ", ";
    text += core::escape_for_terminal(name);
  }
  return text;
}

// "remade thumb; added avif; removed medium; kept large", or with --dry-run "would remake ...".
std::string describe(const RenderPlan& plan, bool dry_run) {
  if (plan.kind == RenderPlan::Kind::kWhole) {
    return (dry_run ? "would make every variant (" : "made every variant (") + plan.reason + ")";
  }
  std::vector<std::string> parts;
  auto part = [&](const std::vector<std::string>& names, const char* planned, const char* done) {
    if (!names.empty()) parts.push_back(std::string(dry_run ? planned : done) + joined(names));
  };
  part(plan.changed, "remake ", "remade ");
  part(plan.added, "add ", "added ");
  part(plan.removed, "remove ", "removed ");
  part(plan.kept, "keep ", "kept ");
  std::string text = dry_run ? "would " : "";
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? "" : "; ") + parts[i];
  return text;
}

void print_report(const SourceReport& report, bool dry_run) {
  const std::string key = core::escape_for_terminal(report.key);
  switch (report.status) {
    case Status::kCurrent:
      return;
    case Status::kPlanned:
      std::printf("%s: %s\n", key.c_str(), describe(report.plan, true).c_str());
      break;
    case Status::kRendered:
      std::printf("%s: %s (%lld ms)\n", key.c_str(), describe(report.plan, dry_run).c_str(),
                  static_cast<long long>(report.took.count()));
      break;
    case Status::kSkipped:
      std::printf("%s: skipped: %s\n", key.c_str(),
                  core::escape_for_terminal(report.error).c_str());
      break;
    case Status::kFailed:
      std::fprintf(stderr, "imgflow reprocess: %s: %s\n", key.c_str(),
                   core::escape_for_terminal(report.error).c_str());
      break;
  }
  std::fflush(stdout);
}

void print_progress(const ReprocessProgress& p) {
  const double percent = p.total == 0 ? 100.0 : 100.0 * double(p.done) / double(p.total);
  std::fprintf(stderr, "imgflow reprocess: %zu/%zu (%.0f%%), %zu left, %.1f/s, ETA %s\n", p.done,
               p.total, percent, p.total - p.done, p.per_second(), duration_text(p.eta()).c_str());
}

void print_summary(const ReprocessProgress& p, bool dry_run) {
  const std::string took =
      duration_text(std::chrono::duration_cast<std::chrono::seconds>(p.elapsed));
  std::fprintf(stderr,
               "imgflow reprocess: %zu of %zu sources in %s: %zu %s (%zu variants %s, %zu %s, %zu "
               "%s), %zu current, %zu skipped, %zu failed\n",
               p.done, p.total, took.c_str(), p.rendered, dry_run ? "to re-render" : "re-rendered",
               p.variants_made, dry_run ? "to make" : "made", p.variants_kept,
               dry_run ? "to keep" : "kept", p.variants_removed, dry_run ? "to remove" : "removed",
               p.current, p.skipped, p.failed);
  if (p.stopped) {
    std::fprintf(stderr,
                 "imgflow reprocess: interrupted; run the same command again to go on (sources "
                 "already current cost one GET each)\n");
  }
}

// The recipe, checked as the server checks it; nullopt after saying why.
std::optional<recipe::Recipe> checked_recipe(const ReprocessOptions& options) {
  auto recipe =
      options.config.empty() ? recipe::default_recipe() : recipe::load_recipe(options.config);
  if (!recipe) {
    usage_error(recipe.error().message);
    return std::nullopt;
  }
  if (auto started = image::init(); !started) {
    usage_error(started.error().to_string());
    return std::nullopt;
  }
  auto warnings = image::check_recipe(*recipe);  // a bad watermark would fail every source
  if (!warnings) {
    usage_error(warnings.error().message);
    return std::nullopt;
  }
  for (const std::string& warning : *warnings) {
    std::fprintf(stderr, "imgflow reprocess: warning: %s\n", warning.c_str());
  }
  return std::move(*recipe);
}

// Live uploads first: the server (and anything else on the machine) wins the CPU.
void lower_priority(int nice) {
  if (nice > 0 && ::setpriority(PRIO_PROCESS, 0, nice) != 0) {
    std::fprintf(stderr, "imgflow reprocess: warning: cannot lower the CPU priority: %s\n",
                 std::strerror(errno));
  }
}

// Runs over `sources`, printing as it goes; Ctrl-C or SIGTERM stops it between sources.
ReprocessProgress run_reporting(function::Reprocessor& reprocessor,
                                const std::vector<storage::ObjectInfo>& sources,
                                const ReprocessOptions& options) {
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  ProgressPacer pacer;
  const ReprocessProgress result =
      reprocessor.run(sources, [&](const SourceReport& report, const ReprocessProgress& p) {
        if (report.status == Status::kFailed || !options.quiet) {
          print_report(report, options.dry_run);
        }
        if (!options.quiet && pacer.due(p)) print_progress(p);
      });
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!options.quiet) print_summary(result, options.dry_run);
  return result;
}

function::ReprocessOptions run_options_of(const ReprocessOptions& options) {
  function::ReprocessOptions run;
  run.prefix = options.prefix;
  run.suffix = options.suffix;
  run.dry_run = options.dry_run;
  run.jobs = options.jobs;
  run.rate = options.rate;
  run.stop = &stop_requested;
  return run;
}

}  // namespace

int run_reprocess(const ReprocessOptions& options) {
  std::optional<recipe::Recipe> recipe = checked_recipe(options);
  if (!recipe) return 2;
  lower_priority(options.nice);
  auto stores = open_stores(options);
  if (!stores) return usage_error(stores.error().message);
  storage::ObjectStore& store = *stores->store;
  for (const auto& [bucket, role] : {std::pair{options.source_bucket, "source"},
                                     std::pair{options.destination_bucket, "destination"}}) {
    if (auto ok = check_bucket(store, bucket, role); !ok) return usage_error(ok.error().message);
  }

  // The function's own log lines only with --verbose: the per-source lines say what happened.
  std::FILE* log_out = options.verbose ? stderr : std::fopen("/dev/null", "w");
  core::Logger logger(log_out != nullptr ? log_out : stderr, core::LogLevel::kInfo,
                      core::LogFormat::kText);
  function::HandlerConfig config;
  config.source_bucket = options.source_bucket;
  config.destination_bucket = options.destination_bucket;
  config.destination_prefix = options.destination_prefix;
  config.recipe = std::move(*recipe);
  function::Handler handler(config, store, store, logger, core::SystemClock::instance());
  image::set_threads_per_image(std::max(1, core::machine_resources().cores / options.jobs));
  warn_of_another_recipe(*stores, handler.planner().recipe_hash());

  function::Reprocessor reprocessor(handler, store, store, run_options_of(options));
  auto sources = reprocessor.list_sources();
  if (!sources) {
    return usage_error("list " + options.source_bucket + ": " + sources.error().to_string());
  }
  if (!options.quiet) {
    std::fprintf(stderr, "imgflow reprocess: %zu sources in %s/%s on %s; recipe %.12s%s\n",
                 sources->size(), options.source_bucket.c_str(),
                 core::escape_for_terminal(options.prefix).c_str(), stores->where.c_str(),
                 handler.planner().recipe_hash().c_str(),
                 options.dry_run ? "; dry run: nothing is written" : "");
  }
  const ReprocessProgress result = run_reporting(reprocessor, *sources, options);
  if (log_out != nullptr && log_out != stderr) std::fclose(log_out);
  return result.failed > 0 || result.stopped ? 1 : 0;
}

}  // namespace imgflow::cli
