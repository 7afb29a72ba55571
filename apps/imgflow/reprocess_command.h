#pragma once

#include <filesystem>
#include <string>

namespace imgflow::cli {

// `imgflow reprocess`, as parsed.
struct ReprocessOptions {
  bool dry_run = false;
  std::string prefix;  // source keys under it
  std::string suffix;  // and ending with it
  std::filesystem::path config;
  std::string source_bucket = "uploads";
  std::string destination_bucket = "processed";
  std::string destination_prefix;
  std::string endpoint;  // "" = AWS_ENDPOINT_URL_S3, …, the data dir's store or server, AWS
  std::string region;
  std::filesystem::path data_dir = "./imgflow-data";
  int jobs = 1;
  double rate = 5;  // sources re-rendered per second at most; 0 = no limit
  int nice = 10;    // CPU priority while it runs
  bool quiet = false;
  bool verbose = false;
};

// Brings every source's outputs up to the recipe: re-renders the variants whose hash changed,
// adds and removes variants, rewrites each manifest last, and leaves the rest untouched. Prints a
// line per source it changes (or would, with --dry-run), progress on stderr, and a summary.
// Returns 0 when every source is current, 1 if some failed or the run was interrupted, 2 for bad
// usage, configuration or a store it cannot reach.
int run_reprocess(const ReprocessOptions& options);

}  // namespace imgflow::cli
