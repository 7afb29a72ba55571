#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/log.h"

namespace imgflow::gateway {

// Logs a limit being hit once per episode rather than once per hit, so a flood of refusals
// writes two lines, not one per request: "limit reached" (warn) at the first hit of a limit by a
// client, and "limit episode ended" (info) with the number of hits once that pair has been quiet
// for `quiet`. Episodes beyond `max_open` are folded into one per limit with client "*", so
// many addresses cannot grow the table or the log without bound. Time is passed in.
// Thread-safe.
class EpisodeLog {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  EpisodeLog(core::Logger& log, std::chrono::milliseconds quiet, std::size_t max_open = 256)
      : log_(log), quiet_(quiet), max_open_(max_open) {}

  // One hit of `limit` (e.g. "per_ip_connections") by `client` (an address key).
  void hit(std::string_view limit, std::string_view client, TimePoint now);

  // Ends, and logs, the episodes with no hit for `quiet`. Call now and then.
  void end_quiet(TimePoint now);

  std::size_t open_episodes() const;

 private:
  struct Episode {
    TimePoint first{};
    TimePoint last{};
    std::uint64_t hits = 0;
  };
  using Key = std::pair<std::string, std::string>;  // limit, client

  core::Logger& log_;
  const std::chrono::milliseconds quiet_;
  const std::size_t max_open_;
  mutable std::mutex mu_;
  std::map<Key, Episode, std::less<>> open_;  // guarded by mu_
};

}  // namespace imgflow::gateway
