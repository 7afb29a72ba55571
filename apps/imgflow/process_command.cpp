#include "process_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/digest.h"
#include "function/manifest.h"
#include "image/image.h"
#include "recipe/recipe.h"

namespace imgflow::cli {
namespace {

namespace fs = std::filesystem;

// A per-run view shared by the workers: what they read is immutable, what they write is
// guarded or atomic.
struct Run {
  const ProcessOptions& options;
  const recipe::Recipe& recipe;
  std::string recipe_hash;
  std::vector<std::string> variant_hashes;
  std::string generator;
  std::map<std::string, fs::path> name_owner;  // output name → the one input that may use it
  std::atomic<std::size_t> next{0};
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::mutex stderr_mu;
};

core::Result<std::string> read_file(const fs::path& path, std::uint64_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return core::fail(core::ErrorCode::kNotFound, ec.message());
  if (size > max_bytes) {
    return core::fail(
        core::ErrorCode::kTooLarge,
        "file is " + std::to_string(size) + " bytes; the limit is " + std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::fail(core::ErrorCode::kNotFound, "cannot open for reading");
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) {
    return core::fail(core::ErrorCode::kInternal, "short read");
  }
  return bytes;
}

// Writes via a temporary file and rename, so a reader never sees half a file.
core::Status write_file(const fs::path& path, std::string_view bytes) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    return core::fail(core::ErrorCode::kInternal,
                      path.parent_path().string() + ": " + ec.message());
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return core::fail(core::ErrorCode::kInternal, temp.string() + ": write failed");
  }
  fs::rename(temp, path, ec);
  if (ec) return core::fail(core::ErrorCode::kInternal, path.string() + ": " + ec.message());
  return {};
}

core::Status write_outputs(Run& run, const fs::path& file, const std::string& source_bytes,
                           const image::Processed& processed) {
  const std::string name = file.stem().string();
  function::Manifest manifest = function::manifest_for(
      processed, file.filename().string(), source_bytes, "", run.recipe_hash, run.generator);
  for (std::size_t i = 0; i < processed.renditions.size(); ++i) {
    const image::Rendition& r = processed.renditions[i];
    const std::string ext(recipe::extension(r.format));
    const std::string key = function::render_key(run.recipe.output.key_template, "", name,
                                                 r.variant, ext, run.variant_hashes[i]);
    if (auto ok = write_file(run.options.out / key, r.bytes); !ok) return ok;
    manifest.variants.push_back({r.variant, key, ext == "jpg" ? "jpeg" : ext,
                                 std::string(recipe::mime_type(r.format)), r.width, r.height,
                                 r.frames, r.bytes.size(), core::to_hex(core::sha256(r.bytes)), "",
                                 r.watermarked, run.variant_hashes[i]});
  }
  // The manifest goes last: its presence says every variant is in place.
  return write_file(run.options.out / name / "manifest.json", function::to_json(manifest));
}

core::Status process_one(Run& run, const fs::path& file) {
  if (auto owner = run.name_owner.at(file.stem().string()); owner != file) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "output name '" + file.stem().string() + "' is already used by " +
                          owner.string() + "; rename one of them");
  }
  auto bytes = read_file(file, run.recipe.limits.max_input_bytes);
  if (!bytes) return core::fail(bytes.error());
  auto processed = image::process(*bytes, run.recipe);
  if (!processed) return core::fail(processed.error());
  return write_outputs(run, file, *bytes, *processed);
}

void report(Run& run, const fs::path& file, const core::Status& status, double ms) {
  const int done = ++run.done;
  const std::lock_guard lock(run.stderr_mu);
  if (!status) {
    ++run.failed;
    std::fprintf(stderr, "imgflow: %s: %s\n", file.c_str(), status.error().to_string().c_str());
  } else if (!run.options.quiet && run.options.files.size() > 1) {
    std::fprintf(stderr, "[%d/%zu] %s (%.0f ms)\n", done, run.options.files.size(), file.c_str(),
                 ms);
  }
}

void worker(Run& run) {
  for (std::size_t i = run.next++; i < run.options.files.size(); i = run.next++) {
    const fs::path& file = run.options.files[i];
    const auto start = std::chrono::steady_clock::now();
    const core::Status status = process_one(run, file);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    report(run, file, status, took.count());
  }
}

core::Result<recipe::Recipe> load_recipe(const fs::path& config) {
  if (config.empty()) return recipe::default_recipe();
  return recipe::load_recipe(config);
}

int jobs_for(int requested, std::size_t files) {
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const int jobs = requested > 0 ? requested : cores;
  return std::max(1, std::min<int>(jobs, static_cast<int>(files)));
}

}  // namespace

int run_process(const ProcessOptions& options) {
  auto recipe = load_recipe(options.config);
  if (!recipe) {
    std::fprintf(stderr, "imgflow: %s\n", recipe.error().message.c_str());
    return 2;
  }
  if (auto started = image::init(); !started) {
    std::fprintf(stderr, "imgflow: %s\n", started.error().to_string().c_str());
    return 2;
  }
  const int jobs = jobs_for(options.jobs, options.files.size());
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  // Parallelism across images first; libvips threads only fill cores the workers leave idle.
  image::set_threads_per_image(std::max(1, cores / jobs));

  Run run{options, *recipe, recipe->hash(), {}, "", {}, {}, {}, {}, {}};
  for (const auto& v : recipe->variants) run.variant_hashes.push_back(recipe->variant_hash(v));
  run.generator =
      std::string("imgflow ") + IMGFLOW_VERSION + " (libvips " + image::libvips_version() + ")";
  for (const fs::path& file : options.files) run.name_owner.emplace(file.stem().string(), file);

  std::vector<std::thread> workers;
  for (int i = 1; i < jobs; ++i) workers.emplace_back(worker, std::ref(run));
  worker(run);
  for (std::thread& t : workers) t.join();
  return run.failed > 0 ? 1 : 0;
}

}  // namespace imgflow::cli
