// LocalStore put and get throughput for 100 KB and 5 MB objects. Compare the put numbers with
// bench_cp_baseline.sh (cp + sync of the same sizes on the same disk); the target is 5 MB puts at
// 0.7x or more of that. The data dir is under $TMPDIR (or /tmp): point it at the disk to measure.

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "storage/local_store.h"

namespace {

using imgflow::storage::ByteSink;
using imgflow::storage::LocalStore;

class ScratchStore {
 public:
  ScratchStore() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/imgflow-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
    auto store = LocalStore::open({dir_});
    if (!store || !(*store)->create_bucket("bench")) std::abort();
    store_ = std::move(*store);
  }
  ~ScratchStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScratchStore(const ScratchStore&) = delete;
  ScratchStore& operator=(const ScratchStore&) = delete;
  LocalStore& store() { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<LocalStore> store_;
};

std::string body_of(std::size_t size) {
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<char>((i * 2654435761U) >> 13U);
  return body;
}

class CountingSink final : public ByteSink {
 public:
  imgflow::core::Status write(std::string_view chunk) override {
    bytes_ += chunk.size();
    return {};
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

// Each put is durable (fsync of file, directory and WAL) and overwrites one of 8 keys, so the
// superseded file is unlinked as in steady-state use.
void BM_LocalStorePut(benchmark::State& state) {
  ScratchStore scratch;
  const std::string body = body_of(static_cast<std::size_t>(state.range(0)));
  std::size_t i = 0;
  for (auto _ : state) {
    auto put = scratch.store().put("bench", "key" + std::to_string(i++ % 8), body);
    if (!put) state.SkipWithError(put.error().to_string().c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["objects/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Reads from the page cache: the cost of metadata lookup, open and copy out.
void BM_LocalStoreGet(benchmark::State& state) {
  ScratchStore scratch;
  const std::string body = body_of(static_cast<std::size_t>(state.range(0)));
  if (!scratch.store().put("bench", "key", body)) state.SkipWithError("put failed");
  for (auto _ : state) {
    CountingSink sink;
    auto got = scratch.store().get("bench", "key", sink);
    if (!got || sink.bytes() != body.size()) state.SkipWithError("get failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["objects/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_LocalStorePut)
    ->Arg(100'000)
    ->Arg(5'000'000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LocalStoreGet)
    ->Arg(100'000)
    ->Arg(5'000'000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
