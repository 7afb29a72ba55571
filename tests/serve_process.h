#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace imgflow::testing {

// `imgflow serve --listen 127.0.0.1:0` in a fresh temporary data dir, with known admin
// credentials. Started by the constructor (waits for the "listening on" banner line), stopped
// with SIGTERM by the destructor. endpoint() is empty if it failed to start.
class ServeProcess {
 public:
  static constexpr const char* kAccessKeyId = "AKIDIMGFLOWTEST00001";
  static constexpr const char* kSecretAccessKey = "imgflow-test-secret-0123456789abcdefghij";

  explicit ServeProcess(const std::string& binary);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // Sends SIGTERM and waits; returns the exit status (-1 if killed by a signal).
  int stop();

 private:
  std::filesystem::path dir_;
  std::filesystem::path data_dir_;
  std::string endpoint_;
  pid_t pid_ = -1;
};

}  // namespace imgflow::testing
