#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace imgflow::cli {

// `imgflow process FILE... [--config F] [--out DIR] [--jobs N]`, as parsed.
struct ProcessOptions {
  std::vector<std::filesystem::path> files;
  std::filesystem::path config;  // empty: the built-in default recipe
  std::filesystem::path out = "out";
  int jobs = 0;        // 0: one per core
  bool quiet = false;  // no progress lines
};

// Runs the engine over every file; returns the process exit code (0 all done, 1 some failed,
// 2 bad configuration). Messages go to stderr, one line per failed file.
int run_process(const ProcessOptions& options);

}  // namespace imgflow::cli
