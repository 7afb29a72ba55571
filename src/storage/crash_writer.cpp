// storage_crash_writer DATA_DIR CYCLE SEED
//
// Puts objects into a LocalStore forever, for crash_test.cpp to SIGKILL at a random moment.
// Before each put it prints "BEGIN <key> <sha256>", after the put returned OK
// "ACK <key> <sha256>"; each line is one write(2) to stdout, so the reader sees whole lines in
// order and an ACK line only for an acknowledged put. Every fifth put overwrites one of a few
// "hot/" keys, the rest create keys unique to the cycle.

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "core/digest.h"
#include "storage/local_store.h"

namespace {

using imgflow::storage::LocalStore;

void say(const std::string& line) {
  const std::string text = line + "\n";
  // Short writes to a pipe are atomic; ignore errors, the reader judges by what arrived.
  (void)!::write(STDOUT_FILENO, text.data(), text.size());
}

std::string random_body(std::mt19937_64& rng) {
  // Log-uniform from 1 byte to 1 MiB: many small bodies, some large, different crash points.
  std::uniform_real_distribution<double> exponent(0.0, 20.0);
  const auto size = static_cast<std::size_t>(std::exp2(exponent(rng)));
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t word = rng();
    for (std::size_t b = 0; b < 8 && i + b < size; ++b) {
      body[i + b] = static_cast<char>((word >> (8 * b)) & 0xFFU);
    }
  }
  return body;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DATA_DIR CYCLE SEED\n", argv[0]);
    return 2;
  }
  const std::string cycle = argv[2];
  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  auto store = LocalStore::open({argv[1]});
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().to_string().c_str());
    return 1;
  }
  (void)(*store)->create_bucket("crash");  // exists after the first cycle
  say("OPEN");  // the test times most kills from here, not from a start slowed by load
  for (int n = 0;; ++n) {
    const std::string key =
        n % 5 == 4 ? "hot/" + std::to_string(n % 3) : "c" + cycle + "/k" + std::to_string(n);
    const std::string body = random_body(rng);
    const std::string sha = imgflow::core::to_hex(imgflow::core::sha256(body));
    imgflow::storage::PutOptions options;
    options.content_md5 = imgflow::core::base64_encode(imgflow::core::md5(body));
    options.event =
        imgflow::storage::EventToRecord{"ObjectCreated:Put", "{\"cycle\":" + cycle + "}"};
    say("BEGIN " + key + " " + sha);
    auto put = (*store)->put("crash", key, body, options);
    if (!put) {
      std::fprintf(stderr, "put %s: %s\n", key.c_str(), put.error().to_string().c_str());
      return 1;
    }
    say("ACK " + key + " " + sha);
  }
}
