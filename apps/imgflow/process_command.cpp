#include "process_command.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/digest.h"
#include "core/text.h"
#include "function/manifest.h"
#include "function/output_layout.h"
#include "image/image.h"
#include "recipe/recipe.h"

namespace imgflow::cli {
namespace {

namespace fs = std::filesystem;

// One image to process: where it is, and its name below --out (its path relative to the
// directory it was found in, or its file name when named on the command line). The name plays
// the part of the object key: the recipe's key template turns it into output paths.
struct Input {
  fs::path path;
  std::string key;
  std::optional<core::Error> problem;  // why it cannot be processed at all (missing, name taken)
};

// A per-run view shared by the workers: what they read is immutable, what they write is
// guarded or atomic.
struct Run {
  const ProcessOptions& options;
  const recipe::Recipe& recipe;
  std::vector<Input> inputs;
  std::string recipe_hash;
  std::vector<std::string> variant_hashes;
  std::string generator;
  std::atomic<std::size_t> next{0};
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::mutex stderr_mu;
};

// Files in directories are picked by extension (a folder of photos also holds .txt and
// .DS_Store); files named on the command line are always tried, and their bytes decide.
bool looks_like_image(const fs::path& path) {
  static constexpr std::string_view kExtensions[] = {".jpg", ".jpeg", ".png",  ".webp", ".gif",
                                                     ".tif", ".tiff", ".heic", ".heif", ".avif"};
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool hidden = path.filename().string().starts_with('.');
  return !hidden &&
         std::find(std::begin(kExtensions), std::end(kExtensions), ext) != std::end(kExtensions);
}

// The images in `dir` (and below it with --recursive), in name order, keyed by their path
// relative to `dir` with '/' separators.
void add_directory(const fs::path& dir, bool recursive, std::vector<Input>& inputs) {
  std::vector<Input> found;
  std::error_code ec;
  const auto options = fs::directory_options::skip_permission_denied;
  auto add = [&](const fs::directory_entry& entry) {
    if (entry.is_regular_file(ec) && looks_like_image(entry.path())) {
      found.push_back({entry.path(), fs::relative(entry.path(), dir, ec).generic_string(), {}});
    }
  };
  if (recursive) {
    for (const auto& entry : fs::recursive_directory_iterator(dir, options, ec)) add(entry);
  } else {
    for (const auto& entry : fs::directory_iterator(dir, options, ec)) add(entry);
  }
  if (ec) {
    inputs.push_back(
        {dir, dir.filename().string(),
         core::Error{core::ErrorCode::kUnavailable, "cannot read the directory: " + ec.message()}});
  }
  std::sort(found.begin(), found.end(),
            [](const Input& a, const Input& b) { return a.key < b.key; });
  inputs.insert(inputs.end(), found.begin(), found.end());
}

// Every file and directory named, expanded; a path that does not exist is an input that fails
// (the others are still processed), and so is the second of two inputs with one name.
std::vector<Input> collect_inputs(const ProcessOptions& options) {
  std::vector<Input> inputs;
  for (const fs::path& path : options.inputs) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (fs::is_directory(status)) {
      add_directory(path, options.recursive, inputs);
    } else if (!fs::exists(status)) {
      inputs.push_back({path, path.filename().string(),
                        core::Error{core::ErrorCode::kNotFound, "no such file or directory"}});
    } else {
      inputs.push_back({path, path.filename().string(), {}});
    }
  }
  std::map<std::string, fs::path> owner;
  for (Input& input : inputs) {
    if (input.problem) continue;
    auto [it, first] = owner.emplace(input.key, input.path);
    if (!first) {
      input.problem = core::Error{core::ErrorCode::kInvalidArgument,
                                  "has the same name below --out (" + input.key + ") as " +
                                      it->second.string() +
                                      "; rename one of them or process them in separate runs"};
    }
  }
  return inputs;
}

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

// `key` as a path below --out, or why not. Recipes cannot make keys climb (their key_template is
// checked at load) and input keys are paths below the named directories; this check makes the
// promise hold whatever a key holds.
core::Result<fs::path> path_below_out(const fs::path& out, std::string_view key) {
  const fs::path base = out.lexically_normal();
  const fs::path path = (base / fs::path(key)).lexically_normal();
  const fs::path inside = path.lexically_relative(base);
  if (fs::path(key).is_absolute() || inside.empty() || *inside.begin() == ".." ||
      *inside.begin() == ".") {
    return core::fail(core::ErrorCode::kPermissionDenied,
                      "output " + core::escape_for_terminal(std::string(key)) +
                          " would be written outside --out; refused");
  }
  return path;
}

core::Status write_output(const Run& run, std::string_view key, std::string_view bytes) {
  auto path = path_below_out(run.options.out, key);
  if (!path) return core::fail(path.error());
  return write_file(*path, bytes);
}

core::Status write_outputs(Run& run, const Input& input, const std::string& source_bytes,
                           const image::Processed& processed) {
  const function::OutputLayout layout(run.recipe.output.key_template, "", input.key);
  function::Manifest manifest = function::manifest_for(processed, input.key, source_bytes, "",
                                                       run.recipe_hash, run.generator);
  for (std::size_t i = 0; i < processed.renditions.size(); ++i) {
    const image::Rendition& r = processed.renditions[i];
    std::string sha256 = core::to_hex(core::sha256(r.bytes));
    std::string key = layout.variant_key(r.variant, recipe::extension(r.format), sha256);
    if (auto ok = write_output(run, key, r.bytes); !ok) return ok;
    run.bytes_out += r.bytes.size();
    manifest.variants.push_back(
        function::manifest_variant(r, std::move(key), std::move(sha256), run.variant_hashes[i]));
  }
  // The manifest goes last: its presence says every variant is in place.
  const std::string json = function::to_json(manifest);
  run.bytes_out += json.size();
  return write_output(run, layout.manifest_key(), json);
}

core::Status process_one(Run& run, const Input& input) {
  if (input.problem) return core::fail(*input.problem);
  auto bytes = read_file(input.path, run.recipe.limits.max_input_bytes);
  if (!bytes) return core::fail(bytes.error());
  run.bytes_in += bytes->size();
  auto processed = image::process(*bytes, run.recipe);
  if (!processed) return core::fail(processed.error());
  return write_outputs(run, input, *bytes, *processed);
}

void report(Run& run, const Input& input, const core::Status& status, double ms) {
  const int done = ++run.done;
  const std::lock_guard lock(run.stderr_mu);
  if (!status) {
    ++run.failed;
    std::fprintf(stderr, "imgflow: %s: %s\n",
                 core::escape_for_terminal(input.path.string()).c_str(),
                 core::escape_for_terminal(status.error().to_string()).c_str());
  } else if (!run.options.quiet && run.inputs.size() > 1) {
    std::fprintf(stderr, "[%d/%zu] %s (%.0f ms)\n", done, run.inputs.size(),
                 core::escape_for_terminal(input.path.string()).c_str(), ms);
  }
}

void worker(Run& run) {
  for (std::size_t i = run.next++; i < run.inputs.size(); i = run.next++) {
    const Input& input = run.inputs[i];
    const auto start = std::chrono::steady_clock::now();
    const core::Status status = process_one(run, input);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    report(run, input, status, took.count());
  }
}

core::Result<recipe::Recipe> load_recipe(const fs::path& config) {
  if (config.empty()) return recipe::default_recipe();
  return recipe::load_recipe(config);
}

int jobs_for(int requested, std::size_t inputs) {
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const int jobs = requested > 0 ? requested : cores;
  return std::max(1, std::min<int>(jobs, static_cast<int>(inputs)));
}

std::string megabytes(std::uint64_t bytes) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text.data();
}

// One closing line, so a batch that scrolled off the screen still says how it went.
void print_summary(const Run& run, double seconds) {
  const int failed = run.failed;
  std::fprintf(stderr, "imgflow: %d processed, %d failed in %.1f s (%s in, %s out)\n",
               run.done.load() - failed, failed, seconds, megabytes(run.bytes_in).c_str(),
               megabytes(run.bytes_out).c_str());
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "imgflow process: %s\n", message.c_str());
  return 2;
}

}  // namespace

int run_process(const ProcessOptions& options) {
  const auto started_at = std::chrono::steady_clock::now();
  if (std::error_code ec; fs::exists(options.out, ec) && !fs::is_directory(options.out, ec)) {
    return usage_error("--out " + core::escape_for_terminal(options.out.string()) +
                       " is a file; give a directory (it is created if missing)");
  }
  auto recipe = load_recipe(options.config);
  if (!recipe) {
    std::fprintf(stderr, "imgflow: %s\n", recipe.error().message.c_str());
    return 2;
  }
  if (auto started = image::init(); !started) {
    std::fprintf(stderr, "imgflow: %s\n", started.error().to_string().c_str());
    return 2;
  }
  auto warnings = image::check_recipe(*recipe);  // a bad watermark would fail every image
  if (!warnings) {
    std::fprintf(stderr, "imgflow: %s\n", warnings.error().message.c_str());
    return 2;
  }
  for (const std::string& warning : *warnings) {
    std::fprintf(stderr, "imgflow: warning: %s\n", warning.c_str());
  }
  Run run{options, *recipe, collect_inputs(options), recipe->hash(), {}, "", {}, {}, {}, {},
          {},      {}};
  if (run.inputs.empty()) {
    return usage_error(
        "no images found (directories are searched for .jpg, .png, .webp, .gif, "
        ".tif, .heic, .avif files; --recursive goes into their subdirectories)");
  }
  const int jobs = jobs_for(options.jobs, run.inputs.size());
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  // Parallelism across images first; libvips threads only fill cores the workers leave idle.
  image::set_threads_per_image(std::max(1, cores / jobs));
  for (const auto& v : recipe->variants) run.variant_hashes.push_back(recipe->variant_hash(v));
  run.generator = function::default_generator();

  std::vector<std::thread> workers;
  for (int i = 1; i < jobs; ++i) workers.emplace_back(worker, std::ref(run));
  worker(run);
  for (std::thread& t : workers) t.join();
  if (!options.quiet) {
    print_summary(
        run, std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count());
  }
  return run.failed > 0 ? 1 : 0;
}

}  // namespace imgflow::cli
