#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace imgflow::cli {

// `imgflow process FILE|DIR... [--config F] [--out DIR] [--jobs N] [--recursive]`, as parsed.
struct ProcessOptions {
  std::vector<std::filesystem::path> inputs;  // files, and directories of images
  std::filesystem::path config;               // empty: the built-in default recipe
  std::filesystem::path out = "out";
  int jobs = 0;            // 0: one per core
  bool recursive = false;  // directories: also their subdirectories
  bool quiet = false;      // no progress lines, no summary
};

// Runs the engine over every input; returns the process exit code (0 all done, 1 some failed,
// 2 bad usage or configuration). Messages go to stderr, one line per failed input, then a
// summary line.
int run_process(const ProcessOptions& options);

}  // namespace imgflow::cli
