#include "gateway/episode_log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace imgflow::gateway {
namespace {

using std::chrono::milliseconds;

constexpr EpisodeLog::TimePoint kStart{std::chrono::hours(1)};

// A logger writing into memory, read back as text.
class MemoryLog {
 public:
  MemoryLog() : file_(open_memstream(&data_, &size_)), log_(file_) {}
  ~MemoryLog() {
    std::fclose(file_);
    std::free(data_);  // NOLINT(cppcoreguidelines-no-malloc): open_memstream's buffer
  }
  MemoryLog(const MemoryLog&) = delete;
  MemoryLog& operator=(const MemoryLog&) = delete;
  core::Logger& logger() { return log_; }
  std::string text() {
    std::fflush(file_);
    return {data_, size_};
  }
  std::size_t count(std::string_view what) {
    const std::string all = text();
    std::size_t n = 0;
    for (auto at = all.find(what); at != std::string::npos; at = all.find(what, at + 1)) ++n;
    return n;
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* file_;
  core::Logger log_;
};

TEST(EpisodeLog, AFloodOfHitsIsOneLineAtTheStartAndOneAtTheEnd) {
  MemoryLog out;
  EpisodeLog episodes(out.logger(), milliseconds(1000));
  for (int i = 0; i < 1000; ++i)
    episodes.hit("requests_per_ip", "192.0.2.7", kStart + milliseconds(i));
  EXPECT_EQ(out.count(R"("msg":"limit reached","limit":"requests_per_ip","client_ip":"192.0.2.7")"),
            1u)
      << out.text();
  episodes.end_quiet(kStart + milliseconds(1500));  // the last hit was 501 ms ago: still on
  EXPECT_EQ(out.count("limit episode ended"), 0u);
  episodes.end_quiet(kStart + milliseconds(2000));
  EXPECT_EQ(
      out.count(
          R"("msg":"limit episode ended","limit":"requests_per_ip","client_ip":"192.0.2.7","hits":1000)"),
      1u)
      << out.text();
  EXPECT_EQ(episodes.open_episodes(), 0u);

  episodes.hit("requests_per_ip", "192.0.2.7", kStart + milliseconds(5000));  // a new episode
  EXPECT_EQ(out.count("limit reached"), 2u);
}

TEST(EpisodeLog, EachLimitAndClientHasItsOwnEpisode) {
  MemoryLog out;
  EpisodeLog episodes(out.logger(), milliseconds(1000));
  episodes.hit("connections_per_ip", "a", kStart);
  episodes.hit("connections_per_ip", "b", kStart);
  episodes.hit("requests_per_ip", "a", kStart);
  episodes.hit("requests_per_ip", "a", kStart);
  EXPECT_EQ(out.count("limit reached"), 3u);
  EXPECT_EQ(episodes.open_episodes(), 3u);
}

TEST(EpisodeLog, ManyClientsFoldIntoOneEpisodeBeyondTheTable) {
  MemoryLog out;
  EpisodeLog episodes(out.logger(), milliseconds(1000), 4);
  for (int i = 0; i < 100; ++i) episodes.hit("connections", "c" + std::to_string(i), kStart);
  EXPECT_EQ(out.count("limit reached"), 5u);  // four clients, then "*" for the rest
  EXPECT_EQ(out.count(R"("client_ip":"*")"), 1u);
  episodes.end_quiet(kStart + milliseconds(1000));
  EXPECT_EQ(out.count(R"("client_ip":"*","hits":96)"), 1u) << out.text();
}

}  // namespace
}  // namespace imgflow::gateway
