#include "serve_command.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "admin_access.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/metrics.h"
#include "function/handler.h"
#include "gateway/connection_budget.h"
#include "gateway/credentials.h"
#include "gateway/handler.h"
#include "gateway/metrics.h"
#include "gateway/scoped_store.h"
#include "gateway/server.h"
#include "http/curl_http_client.h"
#include "image/image.h"
#include "recipe/recipe.h"
#include "runtime/dead_letter_api.h"
#include "runtime/dispatcher.h"
#include "runtime/event_feed.h"
#include "runtime/invoker.h"
#include "storage/local_store.h"

namespace imgflow::cli {
namespace {

namespace fs = std::filesystem;

int usage_error(const std::string& message) {
  std::fprintf(stderr, "imgflow serve: %s\n", message.c_str());
  return 2;
}

// "127.0.0.1:9000", "[::1]:9000" or ":9000" (loopback) → host and port.
std::optional<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return std::nullopt;
  }
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

// A host name ("localhost", "myhost.lan") as the address it resolves to; an address as itself.
// The first address getaddrinfo prefers, as a client connecting to the name would get.
core::Result<std::string> resolve_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "--listen: cannot resolve '" + host + "': " + ::gai_strerror(rc));
  }
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* address =
      found->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  const bool ok = ::inet_ntop(found->ai_family, address, text.data(), text.size()) != nullptr;
  ::freeaddrinfo(found);
  if (!ok) return core::fail(core::ErrorCode::kInvalidArgument, "--listen: bad address " + host);
  return std::string(text.data());
}

core::Status ensure_bucket(storage::ObjectStore& store, const std::string& bucket) {
  auto created = store.create_bucket(bucket);
  if (created ||
      storage::detail_of(created.error()) == storage::ErrorDetail::kBucketAlreadyOwnedByYou) {
    return {};
  }
  return created;
}

// With scan.on_infected: quarantine, infected uploads are moved into this bucket. The function
// may only put objects there (function_roles), so only the admin can read it. Made at start and
// whenever a reloaded recipe asks for it; failing that, containment fails and its events are
// retried.
void ensure_quarantine(storage::ObjectStore& store, const recipe::Recipe& recipe,
                       core::Logger& log) {
  const recipe::Scan& scan = recipe.scan;
  if (!scan.enabled || scan.on_infected != recipe::OnInfected::kQuarantine) return;
  if (auto ok = ensure_bucket(store, scan.quarantine_bucket); !ok) {
    log.error("quarantine bucket not created",
              {{"bucket", scan.quarantine_bucket}, {"reason", ok.error().to_string()}});
  }
}

// Why a recipe's quarantine cannot be used with these buckets, or "": infected uploads must not
// land where they are processed or published.
std::string quarantine_problem(const recipe::Recipe& recipe, std::string_view source,
                               std::string_view destination) {
  const std::string& quarantine = recipe.scan.quarantine_bucket;
  if (!recipe.scan.enabled || (quarantine != source && quarantine != destination)) return "";
  return "scan.quarantine_bucket must not be the source or destination bucket (" + quarantine + ")";
}

// The function role's grants under a recipe: the gateway's, plus what its scan: section needs
// (deleting an infected upload from the source; putting it into the quarantine).
gateway::BucketRoles function_roles(gateway::BucketRoles roles, const recipe::Recipe& recipe) {
  const recipe::Scan& scan = recipe.scan;
  roles.scanning = scan.enabled;
  const bool quarantines = scan.enabled && scan.on_infected == recipe::OnInfected::kQuarantine;
  roles.quarantine = quarantines ? scan.quarantine_bucket : "";
  return roles;
}

// A handler and the store it runs against, kept alive together: the function role's view of
// the store (gateway::ScopedStore), so a handler bug is refused exactly as an external worker
// holding the function's keys would be, instead of reaching every bucket.
class ScopedHandler {
 public:
  ScopedHandler(const function::HandlerConfig& config, storage::ObjectStore& store,
                gateway::BucketRoles roles, core::Logger& log, const core::Clock& clock,
                core::MetricsRegistry* registry)
      : store_(store, gateway::Principal::kFunction, std::move(roles)),
        handler_(config, store_, store_, log, clock, registry) {}

  function::Handler& handler() { return handler_; }

 private:
  gateway::ScopedStore store_;
  function::Handler handler_;
};

// The banner on stdout. Generated secrets are shown only to a person at a terminal: piped into
// journald or `docker logs`, stdout is kept by whoever reads those; there the banner names the
// file instead.
void print_banner(const std::string& endpoint, const gateway::TlsIdentity* tls,
                  const fs::path& data_dir, const fs::path& credentials_file,
                  const gateway::LoadedCredentials& loaded, bool admin_from_env,
                  const gateway::BucketRoles& roles) {
  std::printf("imgflow serve\n");
  std::printf("  listening on %s\n", endpoint.c_str());
  if (tls != nullptr) std::printf("  certificate  %s\n", tls->describe().c_str());
  std::printf("  data dir     %s\n", data_dir.c_str());
  std::printf(
      "  buckets      %s (source: anonymous PUT/POST of images), %s (destination, private)\n",
      roles.source.c_str(), roles.destination.c_str());
  const bool generated = loaded.admin_generated || loaded.function_generated;
  const bool show_secrets = generated && ::isatty(STDOUT_FILENO) == 1;
  if (show_secrets) {
    std::printf("  credentials  written to %s (mode 0600); shown only this once:\n",
                credentials_file.c_str());
    if (loaded.admin_generated) {
      std::printf("    admin     AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n",
                  loaded.credentials.admin.access_key_id.c_str(),
                  loaded.credentials.admin.secret_access_key.c_str());
    }
    if (loaded.function_generated) {
      std::printf("    function  AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n",
                  loaded.credentials.function.access_key_id.c_str(),
                  loaded.credentials.function.secret_access_key.c_str());
    }
  } else if (generated) {
    std::printf("  credentials  generated into %s (mode 0600); read them there\n",
                credentials_file.c_str());
  } else {
    std::printf("  credentials  in %s\n", credentials_file.c_str());
  }
  if (admin_from_env) std::printf("  admin        from IMGFLOW_ACCESS_KEY_ID\n");
  std::printf("  operate      %s/_imgflow/metrics, imgflow dlq list --data-dir %s\n",
              endpoint.c_str(), data_dir.c_str());
  std::printf("  try          aws s3 cp photo.jpg s3://%s/ --endpoint-url %s --no-sign-request\n",
              roles.source.c_str(), endpoint.c_str());
  std::fflush(stdout);
}

// A data dir others can enter exposes every object and the metadata: say so at start (imgflow
// creates its own 0700; one made by hand, or by an older version, may be open).
void warn_if_data_dir_is_open(const fs::path& data_dir, core::Logger& log) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    log.warn("data dir is open to other users", {{"data_dir", data_dir.string()},
                                                 {"mode", mode},
                                                 {"fix", "chmod -R go-rwx " + data_dir.string()}});
  }
}

// Opens the LocalStore under `data_dir` and makes sure both buckets exist.
core::Result<std::unique_ptr<storage::LocalStore>> open_store(const fs::path& data_dir,
                                                              const gateway::BucketRoles& roles) {
  auto store = storage::LocalStore::open({.data_dir = data_dir});
  if (!store) {
    return core::fail(store.error().with_context(data_dir.string()));
  }
  for (const auto& bucket : {roles.source, roles.destination}) {
    if (auto ok = ensure_bucket(**store, bucket); !ok) {
      return core::fail(ok.error().with_context("bucket " + bucket));
    }
  }
  return store;
}

// Blocks until one of `signals`. They are blocked in every thread (the mask is set before any
// thread starts and inherited), so only this sigwait sees them.
int wait_for_signal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal;
}

// The handler in force. SIGHUP swaps in one built from the reloaded recipe; invocations that
// already started keep the one they began with (each holds a reference to it).
class LiveHandler {
 public:
  explicit LiveHandler(std::shared_ptr<function::Handler> handler) : handler_(std::move(handler)) {}

  std::shared_ptr<function::Handler> get() const {
    const std::lock_guard lock(mu_);
    return handler_;
  }
  void set(std::shared_ptr<function::Handler> handler) {
    const std::lock_guard lock(mu_);
    handler_ = std::move(handler);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<function::Handler> handler_;
};

// Runs the server until SIGTERM or SIGINT, then stops accepting and lets in-flight requests
// finish. /ready answers 503 from the signal on, so a balancer stops sending new work first.
// SIGHUP calls `reload` and goes on serving.
void serve_until_signal(gateway::Server& server, const sigset_t& signals, core::Logger& log,
                        std::atomic<bool>& accepting, runtime::EventFeed& feed,
                        const std::function<void()>& reload) {
  std::thread server_thread([&server] { server.run(); });
  int signal = 0;
  while ((signal = wait_for_signal(signals)) == SIGHUP) reload();
  accepting = false;
  log.info("shutting down", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  feed.close();  // open event streams would otherwise hold their connections
  server.stop();
  server_thread.join();
  log.info("stopped", {});
}

// The recipe again, from the same file: checked as at start, and swapped in only if it is
// good; otherwise the running one stays and the log says why.
void reload_recipe(
    const ServeOptions& options, const function::HandlerConfig& base,
    const std::function<std::shared_ptr<function::Handler>(const function::HandlerConfig&)>&
        make_handler,
    LiveHandler& live, core::Logger& log) {
  if (options.config.empty()) {
    log.warn("recipe not reloaded", {{"reason", "serve runs the built-in recipe (no --config)"}});
    return;
  }
  auto recipe = recipe::load_recipe(options.config);
  if (!recipe) {
    log.error("recipe not reloaded; the running one stays", {{"reason", recipe.error().message}});
    return;
  }
  auto warnings = image::check_recipe(*recipe);
  if (!warnings) {
    log.error("recipe not reloaded; the running one stays", {{"reason", warnings.error().message}});
    return;
  }
  if (std::string problem =
          quarantine_problem(*recipe, base.source_bucket, base.destination_bucket);
      !problem.empty()) {
    log.error("recipe not reloaded; the running one stays", {{"reason", problem}});
    return;
  }
  for (const std::string& warning : *warnings) log.warn("recipe", {{"warning", warning}});
  const std::shared_ptr<function::Handler> current = live.get();
  const recipe::Recipe& running = current->config().recipe;
  if (!(recipe->notify == running.notify)) {
    log.warn("recipe's notify: section not reloaded",
             {{"reason", "webhooks and their secrets are read at start; restart to change them"}});
  }
  const std::string before = running.hash();
  function::HandlerConfig config = base;
  config.recipe = std::move(*recipe);
  live.set(make_handler(config));
  log.info("recipe reloaded",
           {{"path", options.config.string()},
            {"recipe_hash_before", before},
            {"recipe_hash", config.recipe.hash()},
            {"note", "gateway limits and the worker count keep their values until a restart"}});
}

// The certificate and key again, for a renewed certificate: new connections get it, running
// ones keep theirs; if the files do not load, the identity in force stays.
void reload_tls(gateway::TlsIdentity* tls, core::Logger& log) {
  if (tls == nullptr) return;
  if (auto ok = tls->reload(); !ok) {
    log.error("certificate not reloaded; the running one stays", {{"reason", ok.error().message}});
    return;
  }
  log.info("certificate reloaded", {{"certificate", tls->describe()}});
}

// --tls-cert and --tls-key, loaded; null for plain HTTP.
core::Result<std::unique_ptr<gateway::TlsIdentity>> load_tls(const gateway::TlsFiles& files) {
  if (files.certificate.empty() && files.private_key.empty()) {
    return std::unique_ptr<gateway::TlsIdentity>();
  }
  if (files.certificate.empty() || files.private_key.empty()) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "--tls-cert and --tls-key go together: give both for HTTPS, or neither");
  }
  return gateway::TlsIdentity::load(files);
}

// Where `imgflow dlq` and other local tools find the running server; they sign admin requests
// to the address it holds, so it is written like the credentials (0600, never through a link).
// Best effort: a stale file after a crash only costs them a refused connection.
void write_endpoint_file(const fs::path& path, const std::string& endpoint, core::Logger& log) {
  if (auto ok = gateway::write_private_file(path, endpoint + "\n"); !ok) {
    log.warn("cannot write the endpoint file", {{"reason", ok.error().message}});
  }
}

// The gateway's connection and request limits: sized for this machine, then what the flags say.
void apply_limits(const ServeOptions& options, const core::MachineResources& machine,
                  gateway::ServerOptions& server) {
  const std::size_t budget = options.max_connections.value_or(gateway::connection_budget(
      {.memory_bytes = machine.memory_bytes, .open_files = gateway::open_file_limit()}));
  server.limits = gateway::limits_for_budget(budget);
  if (options.reserved_connections) {
    server.limits.reserved_connections = *options.reserved_connections;
  }
  if (options.max_connections_per_ip) {
    server.limits.max_connections_per_ip = *options.max_connections_per_ip;
  }
  if (options.requests_per_second_per_ip) {
    server.limits.requests_per_second_per_ip = *options.requests_per_second_per_ip;
    server.limits.request_burst_per_ip = 2 * *options.requests_per_second_per_ip;
  }
  if (options.header_timeout_seconds) {
    server.header_timeout = std::chrono::milliseconds(
        static_cast<std::int64_t>(*options.header_timeout_seconds * 1000));
  }
  if (options.min_body_rate) server.min_body_rate = *options.min_body_rate;
}

}  // namespace

int run_serve(const ServeOptions& options) {
  auto listen = parse_listen(options.listen);
  if (!listen) return usage_error("--listen must be HOST:PORT, e.g. 127.0.0.1:9000");
  auto listen_address = resolve_host(listen->first);
  if (!listen_address) return usage_error(listen_address.error().message);
  listen->first = *listen_address;
  auto recipe =
      options.config.empty() ? recipe::default_recipe() : recipe::load_recipe(options.config);
  if (!recipe) return usage_error(recipe.error().message);
  auto env_admin = gateway::admin_from_environment();
  if (!env_admin) return usage_error(env_admin.error().message);
  auto webhooks = runtime::webhook_targets(
      recipe->notify, [](std::string_view name) { return environment(std::string(name).c_str()); });
  if (!webhooks) return usage_error(webhooks.error().message);
  auto tls = load_tls(options.tls);
  if (!tls) return usage_error(tls.error().message);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);  // reload the recipe and certificate, not die (the default)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const auto log_format = core::parse_log_format(options.log_format);
  if (!log_format) return usage_error("--log-format must be json or text");
  core::Logger log(stderr, core::LogLevel::kInfo, *log_format);
  std::error_code ec;
  const fs::path data_dir = fs::absolute(options.data_dir, ec).lexically_normal();
  gateway::GatewayOptions gateway_options;
  gateway_options.anonymous = options.anonymous;
  // Anonymous uploads the recipe would refuse are refused before their body is read.
  gateway_options.anonymous.max_bytes = recipe->limits.max_input_bytes;
  gateway_options.cors_origins = options.cors_origins;
  gateway_options.region = options.region;
  warn_if_data_dir_is_open(data_dir, log);
  auto store = open_store(data_dir, gateway_options.roles);
  if (!store) return usage_error(store.error().to_string());
  const fs::path credentials_file = data_dir / "credentials";
  auto credentials = gateway::load_or_create_credentials(credentials_file, *env_admin);
  if (!credentials) return usage_error(credentials.error().to_string());

  const sigv4::CredentialsLookup lookup = gateway::make_lookup(credentials->credentials);
  // Every series the process measures; /_imgflow/metrics renders it alone.
  core::MetricsRegistry registry;
  gateway::Metrics metrics(registry);
  core::Counter& uploads =
      registry.counter("imgflow_uploads_total", "Objects created in the source bucket.");
  storage::LocalStore& local = **store;
  if (std::string problem = quarantine_problem(*recipe, gateway_options.roles.source,
                                               gateway_options.roles.destination);
      !problem.empty()) {
    return usage_error(problem);
  }
  if (!options.public_read.empty()) {
    auto public_read = gateway::parse_public_read(options.public_read);
    if (!public_read) return usage_error(public_read.error().message);
    if (public_read->bucket != gateway_options.roles.destination) {
      return usage_error("--public-read " + options.public_read +
                         ": only the destination bucket (" + gateway_options.roles.destination +
                         ") can be public; uploads are unscanned and unprocessed until the "
                         "function has seen them");
    }
    gateway_options.public_read = std::move(*public_read);
  }
  // External workers holding the function's keys get the same grants as the one in-process.
  gateway_options.roles = function_roles(gateway_options.roles, *recipe);

  // The function: the same handler every host runs, on the function role's view of this store.
  if (auto started = image::init(); !started) return usage_error(started.error().to_string());
  auto warnings = image::check_recipe(*recipe);  // a bad watermark would fail every upload
  if (!warnings) return usage_error(warnings.error().message);
  for (const std::string& warning : *warnings) log.warn("recipe", {{"warning", warning}});
  function::HandlerConfig handler_config;
  handler_config.source_bucket = gateway_options.roles.source;
  handler_config.destination_bucket = gateway_options.roles.destination;
  handler_config.destination_prefix = gateway_options.roles.destination_prefix;
  handler_config.recipe = *recipe;
  // Every outcome goes to /_imgflow/events; the webhooks get those they subscribe to. The
  // notify: section is read at start (its secrets come from the environment): a reloaded recipe
  // keeps these webhooks.
  handler_config.notify = {recipe::NotifyEvent::kProcessed, recipe::NotifyEvent::kQuarantined};
  runtime::EventFeed feed;
  const core::Clock& clock = core::SystemClock::instance();
  http::CurlHttpClient webhook_client;
  const runtime::Notifier notifier(std::move(*webhooks), webhook_client, clock,
                                   std::chrono::milliseconds(recipe->notify.timeout_ms));
  core::Gauge* recipe_in_force = nullptr;
  const auto make_handler = [&](const function::HandlerConfig& config) {
    ensure_quarantine(local, config.recipe, log);
    auto scoped = std::make_shared<ScopedHandler>(
        config, local, function_roles(gateway_options.roles, config.recipe), log, clock, &registry);
    // Which recipe makes the outputs now: `imgflow reprocess` checks it runs the same one.
    if (recipe_in_force != nullptr) recipe_in_force->set(0);
    recipe_in_force = &registry.gauge("imgflow_recipe_info",
                                      "The recipe in force (1) and those it replaced (0), by hash.",
                                      {{"hash", scoped->handler().planner().recipe_hash()}});
    recipe_in_force->set(1);
    return std::shared_ptr<function::Handler>(scoped, &scoped->handler());
  };
  LiveHandler live(make_handler(handler_config));
  const runtime::Function function = [&live](std::string_view event, std::string_view id) {
    const std::shared_ptr<function::Handler> handler = live.get();  // this invocation's
    return handler->handle(event, id);
  };
  runtime::DispatcherOptions dispatch_options;
  dispatch_options.metrics = &registry;
  if (!options.region.empty()) dispatch_options.region = options.region;
  dispatch_options.workers = options.workers > 0 ? static_cast<std::size_t>(options.workers) : 0;
  // The engine refuses, from the header, an image that would take more than this.
  dispatch_options.invoker.memory_limit_mb =
      static_cast<int>((recipe->limits.max_memory + (1U << 20U) - 1) >> 20U);
  if (recipe->notify.enabled()) dispatch_options.notifier = &notifier;
  dispatch_options.feed = &feed;
  dispatch_options.notify_max_attempts = recipe->notify.max_attempts;
  runtime::Dispatcher dispatcher(local, local, function, log, clock, dispatch_options);
  // Read at each scrape, not at the dispatcher's last poll (and with no workers at all): the
  // gauges live in the registry, which outlives the dispatcher.
  registry.add_refresh(
      [&local, &depth = dispatcher.stats().queue_depth, &dead = dispatcher.stats().dlq_size] {
        if (auto pending = local.count_pending()) depth.set(static_cast<std::int64_t>(*pending));
        if (auto letters = local.count_dead_letters())
          dead.set(static_cast<std::int64_t>(*letters));
      });
  // Workers share the cores between images; libvips fills only what they leave idle.
  const core::MachineResources machine = core::machine_resources();
  image::set_threads_per_image(
      std::max<int>(1, machine.cores / static_cast<int>(dispatcher.workers())));
  const runtime::DeadLetterApi dead_letter_api(
      local, [&dispatcher](std::int64_t id) { return dispatcher.redrive(id); },
      [&live, &local]() -> core::Result<runtime::Quarantine> {
        const recipe::Scan& scan = live.get()->config().recipe.scan;  // the recipe now running
        if (!scan.enabled || scan.on_infected != recipe::OnInfected::kQuarantine) {
          return core::fail(core::ErrorCode::kNotFound,
                            "nothing is quarantined: the recipe has no scan: section, or it "
                            "deletes infected uploads (on_infected: delete)");
        }
        return runtime::list_quarantine(local, scan.quarantine_bucket);
      });
  std::atomic<bool> accepting{false};
  const gateway::HandlerContext context{
      .store = local,
      .credentials = lookup,
      .clock = core::SystemClock::instance(),
      .options = gateway_options,
      .metrics_text = [&registry] { return registry.render(); },
      // Ready: started, not shutting down, and the store answers a query.
      .ready = [&accepting, &local] { return accepting && local.count_pending().has_value(); },
      .admin =
          [&dead_letter_api](const gateway::AdminRequest& request) {
            return dead_letter_api.handle(request.method, request.path);
          },
      .event_stream = [&feed] { return feed.subscribe(); },
  };
  gateway::ServerOptions server_options;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.tls = tls->get();
  apply_limits(options, machine, server_options);
  auto server = gateway::Server::listen(
      server_options,
      [&context, &dispatcher, &uploads](const gateway::HttpRequest& request,
                                        storage::ByteSource& body) {
        gateway::Response response = gateway::handle(request, body, context);
        if (response.upload) uploads.add();
        // A write may have recorded an event: have it picked up now, not at the next poll.
        if (request.wire.method != "GET" && request.wire.method != "HEAD") dispatcher.wake();
        return response;
      },
      log, metrics);
  if (!server) return usage_error(server.error().message);

  const std::string host =
      listen->first.find(':') == std::string::npos ? listen->first : "[" + listen->first + "]";
  const std::string endpoint =
      std::string(*tls ? "https://" : "http://") + host + ":" + std::to_string((*server)->port());
  print_banner(endpoint, tls->get(), data_dir, credentials_file, *credentials,
               env_admin->has_value(), gateway_options.roles);
  const gateway::AdmissionLimits& limits = server_options.limits;
  log.info("serving", {{"endpoint", endpoint},
                       {"certificate", *tls ? (*tls)->describe() : ""},
                       {"data_dir", data_dir.string()},
                       {"public_read", options.public_read},
                       {"workers", options.workers == 0 ? 0 : dispatcher.workers()},
                       {"cores", machine.cores},
                       {"memory_mb", machine.memory_bytes >> 20U},
                       {"memory_per_image_mb", dispatch_options.invoker.memory_limit_mb},
                       {"max_connections", limits.max_connections},
                       {"reserved_connections", limits.reserved_connections},
                       {"max_connections_per_ip", limits.max_connections_per_ip},
                       {"requests_per_second_per_ip", limits.requests_per_second_per_ip}});
  write_endpoint_file(data_dir / "endpoint", endpoint, log);

  // Events recorded before a crash or restart are still in the outbox: they are claimed first.
  if (options.workers != 0) dispatcher.start();
  accepting = true;
  serve_until_signal(**server, signals, log, accepting, feed, [&] {
    reload_recipe(options, handler_config, make_handler, live, log);
    reload_tls(tls->get(), log);
  });
  // After the gateway has drained: every acknowledged upload's event is in the outbox by now.
  // Running invocations finish; what is not started stays in the outbox for the next start.
  dispatcher.stop();
  fs::remove(data_dir / "endpoint", ec);
  return 0;
}

}  // namespace imgflow::cli
