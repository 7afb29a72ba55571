// Kills a writer process (storage_crash_writer) at random moments and checks, after recovery,
// that every acknowledged put survived whole with exactly one event, that no partial object is
// visible and that no temporary or orphaned file is left. IMGFLOW_CRASH_CYCLES sets the number
// of kill cycles (default 200), IMGFLOW_CRASH_SEED the random seed (default: random, printed).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/digest.h"
#include "storage/local_store.h"
#include "storage/test_support.h"

extern char** environ;

namespace imgflow::storage {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

struct WriterRun {
  std::vector<std::string> lines;
  int status = 0;
};

// Appends what the writer has printed so far, until its OPEN line (or its end): the moment
// the store is open. Process start-up takes from milliseconds to a second on a loaded machine.
void read_until_open(int fd, std::string& output) {
  char buf[4096];
  while (output.find("OPEN\n") == std::string::npos) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    output.append(buf, static_cast<std::size_t>(n));
  }
}

// Starts the writer, SIGKILLs it `delay` after it opened its store (or, with `from_start`,
// after it was started, so some kills land in opening and recovery), and returns every whole
// line it printed.
WriterRun run_and_kill(const stdfs::path& dir, std::uint64_t cycle, std::uint64_t seed,
                       std::chrono::milliseconds delay, bool from_start) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  const std::string dir_arg = dir.string();
  const std::string cycle_arg = std::to_string(cycle);
  const std::string seed_arg = std::to_string(seed);
  char* argv[] = {const_cast<char*>(IMGFLOW_CRASH_WRITER), const_cast<char*>(dir_arg.c_str()),
                  const_cast<char*>(cycle_arg.c_str()), const_cast<char*>(seed_arg.c_str()),
                  nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, IMGFLOW_CRASH_WRITER, &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string output;
  if (!from_start) read_until_open(fds[0], output);
  std::this_thread::sleep_for(delay);
  ::kill(pid, SIGKILL);
  WriterRun run;
  ::waitpid(pid, &run.status, 0);
  char buf[65536];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!in.eof()) run.lines.push_back(line);  // the last piece may lack its newline
  }
  return run;
}

std::size_t count_files(const stdfs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

// What the store may hold for a key: after an ACK exactly that body, plus any body whose put
// began later (it may have committed before the kill).
struct KeyHistory {
  std::set<std::string> acceptable;
  bool acked = false;
  std::string cycle_acked_sha;  // set when acked in the current cycle (unique keys)
};

class CrashTest : public ::testing::Test {
 protected:
  void verify_cycle(const stdfs::path& dir, std::map<std::string, KeyHistory>& history,
                    const std::vector<std::string>& acked_this_cycle) {
    auto opened = LocalStore::open({dir});
    ASSERT_TRUE(opened) << opened.error().to_string();
    auto& store = **opened;
    temp_removed_ += store.recovery_report().temp_files_removed;
    orphans_removed_ += store.recovery_report().orphan_files_removed;
    ASSERT_OK(store.head_bucket("crash"));
    const stdfs::path bucket_dir = dir / "buckets" / "crash";
    EXPECT_EQ(count_files(bucket_dir / "tmp"), 0U) << "temp files leaked";

    // Every listed object is whole: its bytes match its size and MD5 ETag.
    std::set<std::string> listed;
    ListOptions options;
    while (true) {
      auto page = store.list("crash", options);
      ASSERT_OK(page);
      for (const auto& object : page->objects) {
        auto body = store.get_string("crash", object.key);
        ASSERT_OK(body);
        ASSERT_EQ(body->size(), object.size) << object.key;
        ASSERT_EQ(core::to_hex(core::md5(*body)), object.etag) << object.key;
        const std::string sha = core::to_hex(core::sha256(*body));
        const auto& h = history[object.key];
        EXPECT_TRUE(h.acceptable.contains(sha)) << object.key << " holds bytes never put";
        listed.insert(object.key);
      }
      if (!page->is_truncated) break;
      options.continuation_token = page->next_continuation_token;
    }
    EXPECT_EQ(count_files(bucket_dir / "objects"), listed.size()) << "orphan object files";

    // Every acknowledged put is there.
    for (const auto& [key, h] : history) {
      if (h.acked) {
        EXPECT_TRUE(listed.contains(key)) << "acknowledged put lost: " << key;
      }
    }

    // Exactly one event per put acknowledged in this cycle; every event names a stored key.
    auto events = store.claim(1'000'000, 1h);
    ASSERT_OK(events);
    std::map<std::string, int> per_key;
    for (const auto& e : *events) {
      ++per_key[e.key];
      EXPECT_TRUE(listed.contains(e.key)) << "event without an object: " << e.key;
      ASSERT_OK(store.ack(e.id));
    }
    for (const auto& key : acked_this_cycle) {
      if (key.starts_with("hot/")) {
        EXPECT_GE(per_key[key], 1) << key;
      } else {
        EXPECT_EQ(per_key[key], 1) << key;
      }
    }
  }

  std::size_t temp_removed_ = 0;
  std::size_t orphans_removed_ = 0;
};

TEST_F(CrashTest, AcknowledgedPutsSurviveSigkill) {
  const std::uint64_t cycles = env_or("IMGFLOW_CRASH_CYCLES", 200);
  const std::uint64_t seed = env_or("IMGFLOW_CRASH_SEED", std::random_device{}());
  std::cout << "crash test: " << cycles << " cycles, IMGFLOW_CRASH_SEED=" << seed << "\n";
  std::mt19937_64 rng(seed);
  testing::TempDir base;
  stdfs::path dir;
  std::map<std::string, KeyHistory> history;
  std::size_t acks = 0;
  for (std::uint64_t cycle = 0; cycle < cycles; ++cycle) {
    if (cycle % 10 == 0) {  // a fresh store now and then keeps the verification cheap
      if (!dir.empty()) stdfs::remove_all(dir);
      dir = base.path() / ("store" + std::to_string(cycle / 10));
      history.clear();
      auto fresh = LocalStore::open({dir});  // the writer may die before it creates the bucket
      ASSERT_TRUE(fresh) << fresh.error().to_string();
      ASSERT_OK((*fresh)->create_bucket("crash"));
    }
    const auto delay = std::chrono::milliseconds(std::uniform_int_distribution(3, 100)(rng));
    const WriterRun run = run_and_kill(dir, cycle, rng(), delay, cycle % 5 == 0);
    ASSERT_TRUE(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGKILL)
        << "the writer exited by itself (status " << run.status << ") in cycle " << cycle;
    std::vector<std::string> acked_this_cycle;
    for (const auto& line : run.lines) {
      std::istringstream fields(line);
      std::string verb, key, sha;
      fields >> verb >> key >> sha;
      if (verb == "OPEN") continue;
      auto& h = history[key];
      if (verb == "BEGIN") {
        h.acceptable.insert(sha);
      } else if (verb == "ACK") {
        h.acceptable = {sha};
        h.acked = true;
        acked_this_cycle.push_back(key);
        ++acks;
      }
    }
    SCOPED_TRACE("cycle " + std::to_string(cycle) + ", seed " + std::to_string(seed));
    verify_cycle(dir, history, acked_this_cycle);
    if (HasFatalFailure() || HasNonfatalFailure()) return;
  }
  std::cout << "crash test: " << acks << " acknowledged puts; recovery removed " << temp_removed_
            << " temp and " << orphans_removed_ << " orphaned files\n";
  EXPECT_GT(acks, cycles / 2) << "too few puts completed for the test to mean much";
}

}  // namespace
}  // namespace imgflow::storage
