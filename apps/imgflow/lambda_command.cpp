#include "lambda_command.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "core/log.h"
#include "core/machine.h"
#include "core/metrics.h"
#include "function/handler.h"
#include "http/curl_http_client.h"
#include "image/image.h"
#include "lambda/host.h"
#include "lambda/lambda_config.h"
#include "lambda/presign.h"
#include "lambda/runtime_api.h"
#include "lambda/sns_publisher.h"
#include "recipe/recipe.h"
#include "storage/s3/s3_store.h"

namespace imgflow::cli {
namespace {

namespace fs = std::filesystem;

// The directory of this program: a packaged function keeps its CA bundle beside it.
fs::path program_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path();
}

// The X-Ray trace id of the invocation in progress, read by the S3 client on each request.
class TraceId {
 public:
  void set(const std::string& id) {
    const std::lock_guard lock(mu_);
    id_ = id;
  }
  std::string get() const {
    const std::lock_guard lock(mu_);
    return id_;
  }

 private:
  mutable std::mutex mu_;
  std::string id_;
};

// Reports a failed start where Lambda shows it (the init error) and on stderr.
int fail_start(const lambda::RuntimeApi* api, core::Logger& log, const std::string& type,
               const std::string& message) {
  log.error("init failed", {{"error_type", type}, {"reason", message}});
  if (api != nullptr) {
    if (auto posted = api->init_error({type, message}); !posted) {
      log.error("init error refused", {{"reason", posted.error().to_string()}});
    }
  }
  return 2;
}

core::Result<recipe::Recipe> load_recipe(const fs::path& path) {
  auto loaded = path.empty() ? recipe::default_recipe() : recipe::load_recipe(path);
  if (!loaded) return loaded;
  auto warnings = image::check_recipe(*loaded);
  if (!warnings) return core::fail(warnings.error());
  return loaded;
}

// A packaged function carries its fonts (the text watermark's) and a fontconfig file naming
// them: Lambda's runtime image has neither. Set before the first text is drawn.
void use_bundled_fonts() {
  const fs::path conf = program_dir() / "fonts" / "fonts.conf";
  std::error_code ec;
  if (std::getenv("FONTCONFIG_FILE") == nullptr && fs::is_regular_file(conf, ec)) {
    setenv("FONTCONFIG_FILE", conf.c_str(), 1);
  }
}

// The upload-URL endpoint (IMGFLOW_MODE=presign): no image work, so libvips is never started and
// the recipe is read only for its size limit.
int run_presign(const lambda::LambdaConfig& config, const lambda::RuntimeApi& api,
                core::Logger& log) {
  auto recipe =
      config.recipe.empty() ? recipe::default_recipe() : recipe::load_recipe(config.recipe);
  if (!recipe) return fail_start(&api, log, "Imgflow.Recipe", recipe.error().message);
  auto credentials = storage::s3::credentials_from_environment();
  if (!credentials) {
    return fail_start(&api, log, "Imgflow.Config",
                      credentials.error().message + " (Lambda sets them from the function's role)");
  }
  lambda::PresignOptions options;
  options.bucket = config.source_bucket;
  options.prefix = config.source_prefix;
  options.region = config.region;
  options.endpoint = config.s3_endpoint;
  options.max_bytes = recipe->limits.max_input_bytes;
  const lambda::Presigner presigner(options, std::move(*credentials), log,
                                    core::SystemClock::instance());

  core::MetricsRegistry registry;  // nothing to measure beyond Lambda's own metrics
  lambda::HostOptions host_options;
  host_options.deadline_margin = config.deadline_margin;
  host_options.metrics.dimensions = {{"FunctionName", config.function_name}};
  lambda::Host host(api,
                    lambda::Responder([&presigner](std::string_view event, std::string_view id) {
                      return presigner.handle(event, id);
                    }),
                    log, registry, stdout, host_options);
  return host.run();
}

}  // namespace

int run_lambda() {
  use_bundled_fonts();
  core::Logger log(stderr, core::LogLevel::kInfo, core::LogFormat::kLambda);
  const lambda::Environment env = lambda::process_environment();
  http::CurlHttpClient runtime_client(1);
  auto config = lambda::read_config(env);
  if (!config) {
    const std::string address = env("AWS_LAMBDA_RUNTIME_API").value_or("");
    const lambda::RuntimeApi api(address, runtime_client);
    return fail_start(address.empty() ? nullptr : &api, log, "Imgflow.Config",
                      config.error().message);
  }
  const lambda::RuntimeApi api(config->runtime_api, runtime_client);
  if (config->mode == lambda::Mode::kPresign) return run_presign(*config, api, log);
  if (auto started = image::init(); !started) {
    return fail_start(&api, log, "Imgflow.Init", started.error().to_string());
  }
  auto recipe = load_recipe(config->recipe);
  if (!recipe) return fail_start(&api, log, "Imgflow.Recipe", recipe.error().message);
  if (auto scanning = lambda::apply_scan_settings(*config, *recipe); !scanning) {
    return fail_start(&api, log, "Imgflow.Config", scanning.error().message);
  }
  // One invocation at a time: the image may use every core Lambda gives the function.
  image::set_threads_per_image(core::machine_resources().cores);

  http::CurlHttpClient s3_client(http::CurlHttpClient::Options{
      .max_idle_handles = 8,
      .ca_file = lambda::find_ca_file(env, program_dir() / "ca-certificates.crt")});
  TraceId trace;
  storage::s3::S3Config s3_config;
  s3_config.endpoint = config->s3_endpoint;
  s3_config.region = config->region;
  s3_config.path_style = !config->s3_endpoint.empty();  // a custom endpoint: MinIO, the gateway
  s3_config.trace_id = [&trace] { return trace.get(); };
  auto store = storage::s3::S3Store::create(s3_config, s3_client);
  if (!store) return fail_start(&api, log, "Imgflow.Config", store.error().to_string());

  core::MetricsRegistry registry;
  function::HandlerConfig handler_config;
  handler_config.source_bucket = config->source_bucket;
  handler_config.destination_bucket = config->destination_bucket;
  handler_config.destination_prefix = config->destination_prefix;
  handler_config.recipe = std::move(*recipe);
  std::optional<lambda::SnsPublisher> publisher;
  if (!config->notify_topic_arn.empty()) {
    handler_config.notify = {recipe::NotifyEvent::kProcessed, recipe::NotifyEvent::kQuarantined};
    auto credentials = storage::s3::credentials_from_environment();
    if (!credentials) return fail_start(&api, log, "Imgflow.Config", credentials.error().message);
    auto created = lambda::SnsPublisher::create(config->notify_topic_arn, config->sns_endpoint,
                                                std::move(*credentials), s3_client,
                                                core::SystemClock::instance());
    if (!created) return fail_start(&api, log, "Imgflow.Config", created.error().message);
    publisher.emplace(std::move(*created));
  }
  function::Handler handler(handler_config, **store, **store, log, core::SystemClock::instance(),
                            &registry);
  lambda::Function function = [&handler](std::string_view event, std::string_view id) {
    return handler.handle(event, id);
  };
  if (publisher) {
    function =
        lambda::publishing(std::move(function), *publisher, core::SystemClock::instance(), log);
  }

  lambda::HostOptions options;
  options.deadline_margin = config->deadline_margin;
  options.metrics.dimensions = {{"FunctionName", config->function_name}};
  options.set_trace_id = [&trace](const std::string& id) {
    trace.set(id);
    // As the SDKs of Lambda's managed runtimes find it.
    if (id.empty()) {
      unsetenv("_X_AMZN_TRACE_ID");
    } else {
      setenv("_X_AMZN_TRACE_ID", id.c_str(), 1);
    }
  };
  lambda::Host host(api, std::move(function), log, registry, stdout, options);
  return host.run();
}

}  // namespace imgflow::cli
