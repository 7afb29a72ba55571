#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace imgflow::cli {

// `imgflow dlq list|show|redrive|delete|quarantine`, as parsed.
struct DlqOptions {
  std::string action;            // "list", "show", "redrive", "delete" or "quarantine"
  std::vector<std::string> ids;  // dead letter ids (show takes one)
  bool all = false;              // redrive: every dead letter
  bool json = false;             // list, quarantine: the raw JSON rather than a table
  // quarantine, with the data dir opened directly (no server): the recipe's quarantine bucket.
  // A running server answers for the recipe it runs.
  std::string quarantine_bucket = "quarantine";
  std::filesystem::path data_dir = "./imgflow-data";
  // The running server to ask. Empty: the data dir's own, found through DATA_DIR/endpoint when
  // a server holds the data dir, else the data dir is opened directly.
  std::string endpoint;
};

// Lists, shows, redrives or deletes dead letters, or lists the quarantine; returns the exit code: 0
// done, 1 some ids failed (each named on stderr), 2 bad usage, no data dir, no credentials or no
// server.
int run_dlq(const DlqOptions& options);

}  // namespace imgflow::cli
