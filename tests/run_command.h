#pragma once

#include <string>
#include <vector>

namespace imgflow::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;
  std::string err;
};

// Runs `argv` (no shell) with extra `env` entries ("NAME=value"), capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env = {});

}  // namespace imgflow::testing
