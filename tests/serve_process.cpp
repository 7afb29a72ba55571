#include "serve_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

extern char** environ;

namespace imgflow::testing {

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ServeProcess::ServeProcess(const std::string& binary) {
  char pattern[] = "/tmp/imgflow-serve-test-XXXXXX";
  dir_ = ::mkdtemp(pattern);
  data_dir_ = dir_ / "data";
  const std::string out = (dir_ / "serve.out").string();
  const std::string log = (dir_ / "serve.log").string();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT, 0600);

  std::vector<std::string> args = {binary,        "serve",      "--listen",
                                   "127.0.0.1:0", "--data-dir", data_dir_.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  env_storage.push_back(std::string("IMGFLOW_ACCESS_KEY_ID=") + kAccessKeyId);
  env_storage.push_back(std::string("IMGFLOW_SECRET_ACCESS_KEY=") + kSecretAccessKey);
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    pid_ = -1;
    return;
  }
  // The banner names the bound port. Poll for it (a sanitizer build starts slowly), giving up
  // if serve exits.
  static constexpr std::string_view kListening = "listening on ";
  for (int i = 0; i < 600; ++i) {
    const std::string banner = read_file(out);
    const std::size_t at = banner.find(kListening);
    const std::size_t end = at == std::string::npos ? at : banner.find('\n', at);
    if (end != std::string::npos) {
      endpoint_ = banner.substr(at + kListening.size(), end - at - kListening.size());
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    ::usleep(50'000);
  }
}

int ServeProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ServeProcess::~ServeProcess() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace imgflow::testing
