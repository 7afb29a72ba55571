#include "gateway/episode_log.h"

#include <vector>

namespace imgflow::gateway {

void EpisodeLog::hit(std::string_view limit, std::string_view client, TimePoint now) {
  std::lock_guard lock(mu_);
  Key key{std::string(limit), std::string(client)};
  auto it = open_.find(key);
  if (it == open_.end() && open_.size() >= max_open_) {
    key.second = "*";
    it = open_.find(key);
  }
  if (it != open_.end()) {
    ++it->second.hits;
    it->second.last = now;
    return;
  }
  open_.emplace(key, Episode{now, now, 1});
  log_.warn("limit reached", {{"limit", key.first}, {"client_ip", key.second}});
}

void EpisodeLog::end_quiet(TimePoint now) {
  std::vector<std::pair<Key, Episode>> ended;
  {
    std::lock_guard lock(mu_);
    for (auto it = open_.begin(); it != open_.end();) {
      if (now - it->second.last < quiet_) {
        ++it;
        continue;
      }
      ended.emplace_back(it->first, it->second);
      it = open_.erase(it);
    }
  }
  for (const auto& [key, episode] : ended) {
    const double seconds = std::chrono::duration<double>(episode.last - episode.first).count();
    log_.info("limit episode ended", {{"limit", key.first},
                                      {"client_ip", key.second},
                                      {"hits", episode.hits},
                                      {"seconds", seconds}});
  }
}

std::size_t EpisodeLog::open_episodes() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

}  // namespace imgflow::gateway
