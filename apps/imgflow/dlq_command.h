#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace imgflow::cli {

// `imgflow dlq list|show|redrive|delete`, as parsed.
struct DlqOptions {
  std::string action;            // "list", "show", "redrive" or "delete"
  std::vector<std::string> ids;  // dead letter ids (show takes one)
  bool all = false;              // redrive: every dead letter
  bool json = false;             // list: the raw JSON rather than a table
  std::filesystem::path data_dir = "./imgflow-data";
  // The running server to ask. Empty: the data dir's own, found through DATA_DIR/endpoint when
  // a server holds the data dir, else the data dir is opened directly.
  std::string endpoint;
};

// Lists, shows, redrives or deletes dead letters; returns the exit code: 0 done, 1 some ids
// failed (each named on stderr), 2 bad usage, no data dir, no credentials or no server.
int run_dlq(const DlqOptions& options);

}  // namespace imgflow::cli
