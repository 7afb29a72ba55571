// imgflow's command line: wiring only. Each subcommand parses its flags here and hands a typed
// options struct to its runner.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "dlq_command.h"
#include "image/image.h"
#include "lambda_command.h"
#include "presign_command.h"
#include "process_command.h"
#include "reprocess_command.h"
#include "serve_command.h"

namespace {

constexpr const char* kDescription =
    "imgflow — an event-driven image pipeline.\n"
    "Resizes, watermarks and converts images into the variants a recipe (imgflow.yaml) names.";

void add_process(CLI::App& app, imgflow::cli::ProcessOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "process",
      "Run the image engine on local files, no server: for each image writes "
      "OUT/<file>/<variant>.<ext> and then OUT/<file>/manifest.json (for the default key "
      "template; output.key_template in the recipe changes it).");
  cmd->add_option("inputs", options.inputs,
                  "Images (JPEG, PNG, WebP, GIF, TIFF, HEIF, AVIF; decided by their bytes, not "
                  "their names) and directories of them (files with those extensions; the folder "
                  "structure is kept under OUT)")
      ->required();
  cmd->add_option("-c,--config", options.config,
                  "Recipe file (default: $IMGFLOW_CONFIG, else the built-in recipe, the same as "
                  "imgflow.example.yaml)")
      ->envname("IMGFLOW_CONFIG")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", options.out, "Output directory (created if missing)")
      ->capture_default_str();
  cmd->add_option("-j,--jobs", options.jobs,
                  "Images processed in parallel, 1..256 (default: one per core)")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("-r,--recursive", options.recursive, "Also process the subdirectories of DIRs");
  cmd->add_flag("-q,--quiet", options.quiet,
                "No progress lines and no summary; errors are still printed");
  cmd->footer(
      "Each image that fails gets one line on stderr (a missing file too); the others are still "
      "processed, and a summary line closes the run.\n"
      "Exit status: 0 all images processed, 1 some failed, 2 bad usage or configuration.");
}

// Connection and request limits; docs/security.md explains each and what to set behind a proxy.
void add_serve_limits(CLI::App& cmd, imgflow::cli::ServeOptions& options) {
  cmd.add_option("--max-connections", options.max_connections,
                 "Connections at once (default: from memory and open files, 32-1024)")
      ->envname("IMGFLOW_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 100000));
  cmd.add_option("--reserved-connections", options.reserved_connections,
                 "Of those, kept for health/ready/metrics and signed requests (default: an eighth)")
      ->envname("IMGFLOW_RESERVED_CONNECTIONS");
  cmd.add_option("--max-connections-per-ip", options.max_connections_per_ip,
                 "Connections one client address may hold (default: a quarter of the shared ones, "
                 "at most 64; 0: no limit)")
      ->envname("IMGFLOW_MAX_CONNECTIONS_PER_IP");
  cmd.add_option("--requests-per-second-per-ip", options.requests_per_second_per_ip,
                 "Anonymous requests per second one address may make, in bursts of twice that "
                 "(default: 100; 0: no limit)")
      ->envname("IMGFLOW_REQUESTS_PER_SECOND_PER_IP")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--header-timeout", options.header_timeout_seconds,
                 "Seconds a request header may take in all (default: 10)")
      ->envname("IMGFLOW_HEADER_TIMEOUT")
      ->check(CLI::Range(0.1, 3600.0));
  cmd.add_option("--min-body-rate", options.min_body_rate,
                 "Bytes per second a request body must average (default: 1024; 0: no minimum)")
      ->envname("IMGFLOW_MIN_BODY_RATE");
}

// The rules of anonymous uploads (docs/security.md, "Anonymous uploads").
void add_anonymous_upload_options(CLI::App& cmd, imgflow::gateway::AnonymousUploads& anonymous) {
  cmd.add_option("--anonymous-uploads", anonymous.enabled,
                 "on: anyone who reaches the port may upload images into the source bucket; off: "
                 "only presigned URLs and signed POST forms upload")
      ->envname("IMGFLOW_ANONYMOUS_UPLOADS")
      ->default_str("on");
  cmd.add_option("--anonymous-overwrite", anonymous.may_overwrite,
                 "on: an anonymous upload may replace an existing key (someone else's image and "
                 "its variants); off: such uploads get 412 PreconditionFailed")
      ->envname("IMGFLOW_ANONYMOUS_OVERWRITE")
      ->default_str("off");
  cmd.add_option("--anonymous-multipart-limit", anonymous.max_multipart_uploads_per_client,
                 "Anonymous multipart uploads in progress at once per client address; one more "
                 "is 503 SlowDown")
      ->envname("IMGFLOW_ANONYMOUS_MULTIPART_LIMIT")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  cmd.add_option_function<int>(
         "--anonymous-multipart-expiry",
         [&anonymous](int seconds) {
           anonymous.multipart_lifetime = std::chrono::seconds(seconds);
         },
         "Seconds after which an unfinished anonymous multipart upload is deleted")
      ->envname("IMGFLOW_ANONYMOUS_MULTIPART_EXPIRY")
      ->check(CLI::Range(1, 7 * 24 * 3600))
      ->default_str(std::to_string(anonymous.multipart_lifetime.count()));
}

void add_serve(CLI::App& app, imgflow::cli::ServeOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Run the embedded system: an S3-compatible gateway with buckets uploads (source) and "
      "processed (destination) on local disk. Stops on SIGTERM or SIGINT.");
  cmd->add_option("-l,--listen", options.listen, "HOST:PORT to listen on (port 0: any free port)")
      ->envname("IMGFLOW_LISTEN")
      ->capture_default_str();
  cmd->add_option("-d,--data-dir", options.data_dir, "Where objects, metadata and credentials live")
      ->envname("IMGFLOW_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("-c,--config", options.config,
                  "Recipe file (default: $IMGFLOW_CONFIG, else the built-in recipe)")
      ->envname("IMGFLOW_CONFIG")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-cert", options.tls.certificate,
                  "PEM certificate chain (leaf first): serve HTTPS only, TLS 1.2 and 1.3; "
                  "SIGHUP reloads it with the key")
      ->envname("IMGFLOW_TLS_CERT")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", options.tls.private_key,
                  "PEM private key of --tls-cert, unencrypted, not readable by other users")
      ->envname("IMGFLOW_TLS_KEY")
      ->check(CLI::ExistingFile);
  cmd->add_option("--cors-origin", options.cors_origins,
                  "Browser origin allowed to upload (repeatable, or comma-separated; * for any)")
      ->envname("IMGFLOW_CORS_ORIGINS")
      ->delimiter(',');
  cmd->add_option("--public-read", options.public_read,
                  "Let anyone GET and HEAD the outputs under BUCKET[/PREFIX] without credentials, "
                  "for a reverse proxy or CDN in front (the destination bucket only; no listing; "
                  "default: nothing is public)")
      ->envname("IMGFLOW_PUBLIC_READ");
  cmd->add_option("-w,--workers", options.workers,
                  "Images processed at once (default: two per core, so one image's fsyncs overlap "
                  "another's CPU work, but no more than 3/4 of the memory holds at the recipe's "
                  "limits.max_memory each; 0: record events only)")
      ->envname("IMGFLOW_WORKERS")
      ->check(CLI::Range(-1, 1024));
  add_anonymous_upload_options(*cmd, options.anonymous);
  cmd->add_option("--region", options.region,
                  "The region SigV4 signatures must name, e.g. eu-west-1 (default: accept the "
                  "region each client signs with)")
      ->envname("IMGFLOW_REGION");
  cmd->add_option("--log-format", options.log_format,
                  "json: one JSON object per line on stderr, for jq and log shippers; text: "
                  "readable lines for a terminal")
      ->envname("IMGFLOW_LOG_FORMAT")
      ->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  add_serve_limits(*cmd, options);
  cmd->footer(
      "Admin credentials come from IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY, else they "
      "are generated on first start into DATA_DIR/credentials (mode 0600) and printed once.\n"
      "Exit status: 0 clean shutdown, 2 bad usage or configuration.");
}

// `imgflow dlq list|show|redrive|delete|quarantine`: the actions share --data-dir and
// --endpoint.
void add_dlq(CLI::App& app, imgflow::cli::DlqOptions& options) {
  CLI::App* dlq = app.add_subcommand(
      "dlq",
      "The dead-letter queue: uploads whose processing failed for good (a bad image, or every "
      "retry used up). List them, see why, retry them after a fix, or delete them.");
  dlq->require_subcommand(1);
  dlq->fallthrough();  // --data-dir and --endpoint also after the action
  dlq->add_option("-d,--data-dir", options.data_dir, "The data dir of imgflow serve")
      ->envname("IMGFLOW_DATA_DIR")
      ->capture_default_str();
  dlq->add_option("-e,--endpoint", options.endpoint,
                  "URL of a running imgflow serve (default: the one holding the data dir, found "
                  "through DATA_DIR/endpoint; with no server running, the data dir is opened "
                  "directly)")
      ->envname("IMGFLOW_ENDPOINT");
  dlq->footer(
      "Talking to a server needs the admin credentials: IMGFLOW_ACCESS_KEY_ID and "
      "IMGFLOW_SECRET_ACCESS_KEY, else the pair in DATA_DIR/credentials.\n"
      "Exit status: 0 done, 1 some IDs failed (each named on stderr), 2 bad usage, no data dir, "
      "no credentials or no server.");
  CLI::App* list = dlq->add_subcommand("list", "One line per dead letter: ID, when, why, object");
  list->add_flag("--json", options.json, "Print the full JSON instead of a table");
  CLI::App* show = dlq->add_subcommand("show", "Everything about one dead letter, as JSON");
  show->add_option("id", options.ids, "Dead letter ID (from list)")->required();
  CLI::App* redrive = dlq->add_subcommand(
      "redrive", "Put dead letters back into the queue: the upload is processed again");
  redrive->add_option("ids", options.ids, "Dead letter IDs (from list)");
  redrive->add_flag("--all", options.all, "Every dead letter");
  CLI::App* remove = dlq->add_subcommand("delete", "Forget dead letters for good");
  remove->add_option("ids", options.ids, "Dead letter IDs (from list)")->required();
  CLI::App* quarantine = dlq->add_subcommand(
      "quarantine",
      "The infected uploads the scanner stopped (recipe scan:), one line each: when, what it "
      "found, where it was uploaded, and its key in the quarantine bucket");
  quarantine->add_flag("--json", options.json, "Print the full JSON instead of a table");
  quarantine
      ->add_option("--bucket", options.quarantine_bucket,
                   "The quarantine bucket, when no server runs (a running server answers for "
                   "its recipe)")
      ->capture_default_str();
  for (CLI::App* action : {list, show, redrive, remove, quarantine}) {
    action->callback([&options, action] { options.action = action->get_name(); });
  }
}

// `imgflow presign get|put|post s3://BUCKET/KEY`.
void add_presign(CLI::App& app, imgflow::cli::PresignOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "presign",
      "Print a presigned URL (get, put) or a signed browser POST form as JSON (post) for one "
      "object, for applications and scripts: whoever holds it may do that one thing until it "
      "expires, without credentials. Nothing is sent.");
  cmd->add_option("method", options.method, "get, put or post")
      ->required()
      ->check(CLI::IsMember({"get", "put", "post"}));
  cmd->add_option("target", options.target, "The object, as s3://BUCKET/KEY")->required();
  cmd->add_option("--expires", options.expires, "How long it works: 90, 30s, 15m, 2h, up to 7d")
      ->capture_default_str();
  cmd->add_option("--content-type", options.content_type,
                  "put: signed, so the upload must send exactly this Content-Type; post: the "
                  "form's Content-Type field, required by its policy");
  cmd->add_option("--max-size", options.max_size,
                  "post: the largest file in bytes the form accepts (0 = no limit)");
  cmd->add_flag("--json", options.json,
                "get, put: print {method, url, headers, expires_in} instead of the URL alone");
  cmd->add_option("-e,--endpoint", options.endpoint,
                  "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; else, "
                  "without AWS credentials, the imgflow serve holding --data-dir; else AWS S3)");
  cmd->add_option("--region", options.region,
                  "Signing region (default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1)");
  cmd->add_option("-d,--data-dir", options.data_dir,
                  "The data dir of imgflow serve: its address and admin credentials")
      ->envname("IMGFLOW_DATA_DIR")
      ->capture_default_str();
  cmd->footer(
      "Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) when set; "
      "else imgflow's admin (IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY, else the pair "
      "in DATA_DIR/credentials). A URL stops working when it expires, or earlier when the "
      "credentials that signed it do (temporary ones).\n"
      "Exit status: 0 printed, 2 bad usage, no credentials or no server.");
}

// `imgflow reprocess`: after a recipe change.
void add_reprocess(CLI::App& app, imgflow::cli::ReprocessOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "reprocess",
      "After a recipe change: re-render, for every source, exactly the variants whose settings "
      "changed, make the ones the recipe added, delete the ones it dropped and rewrite the "
      "manifest last. Unchanged variants are not touched (their bytes and ETags stay). Run it "
      "with the recipe the server runs.");
  cmd->add_flag("-n,--dry-run", options.dry_run,
                "List what would change, source by source, and write nothing");
  cmd->add_option("-p,--prefix", options.prefix, "Only sources whose key starts with this");
  cmd->add_option("--suffix", options.suffix,
                  "Only sources whose key ends with this (as the bucket notification's filter)");
  cmd->add_option("-c,--config", options.config,
                  "Recipe file (default: $IMGFLOW_CONFIG, else the built-in recipe)")
      ->envname("IMGFLOW_CONFIG")
      ->check(CLI::ExistingFile);
  cmd->add_option("--source-bucket", options.source_bucket, "Where the uploads are")
      ->envname("IMGFLOW_SOURCE_BUCKET")
      ->capture_default_str();
  cmd->add_option("--destination-bucket", options.destination_bucket,
                  "Where the variants and manifests are")
      ->envname("IMGFLOW_DESTINATION_BUCKET")
      ->capture_default_str();
  cmd->add_option("--destination-prefix", options.destination_prefix,
                  "Prefix of every output key, as the function has it (default: none)")
      ->envname("IMGFLOW_DESTINATION_PREFIX");
  cmd->add_option("-e,--endpoint", options.endpoint,
                  "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; else, "
                  "without AWS credentials, --data-dir itself, or the imgflow serve running on "
                  "it; else AWS S3)");
  cmd->add_option("--region", options.region,
                  "Region (default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1)");
  cmd->add_option("-d,--data-dir", options.data_dir, "The data dir of imgflow serve")
      ->envname("IMGFLOW_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("-j,--jobs", options.jobs, "Sources re-rendered at once, 1..64")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--rate", options.rate,
                  "Sources re-rendered per second at most, so live uploads keep priority "
                  "(0: no limit; current sources do not count)")
      ->check(CLI::Range(0.0, 100000.0))
      ->capture_default_str();
  cmd->add_option("--nice", options.nice,
                  "CPU priority while it runs, 0..19 (higher yields more to the server)")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", options.quiet,
                "No line per source, no progress and no summary; failures are still printed");
  cmd->add_flag("-v,--verbose", options.verbose, "Also print the function's log lines");
  cmd->footer(
      "Each source is planned from its manifest: variants whose own recipe hash and key are "
      "unchanged are kept; a source without a manifest (never processed, or one an interrupted "
      "run was rewriting) is processed whole. Sources already current cost one GET, so an "
      "interrupted run (Ctrl-C, a crash, a reboot) is resumed by running it again. No "
      "notifications are sent.\n"
      "Prints a line per source it changes, progress every 5 s on stderr, and a summary.\n"
      "Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY when set; else imgflow's admin "
      "(IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY, else DATA_DIR/credentials).\n"
      "Exit status: 0 every source is current, 1 some failed or the run was interrupted, 2 bad "
      "usage or configuration, or a bucket it cannot reach.");
}

void add_lambda(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "lambda",
      "Run as an AWS Lambda custom runtime: take events from the Lambda Runtime API and run the "
      "handler on each (the package's bootstrap is this program). Configured from the "
      "environment only.");
  cmd->footer(
      "Required (IMGFLOW_MODE unset or events): IMGFLOW_DESTINATION_BUCKET (the private bucket for "
      "variants and manifests), "
      "and what Lambda sets: AWS_LAMBDA_RUNTIME_API, AWS_REGION, AWS_ACCESS_KEY_ID, "
      "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.\n"
      "Optional: IMGFLOW_DESTINATION_PREFIX (default: the bucket's root), IMGFLOW_SOURCE_BUCKET "
      "(default: any bucket but the destination), IMGFLOW_CONFIG (a recipe file; default: the "
      "built-in recipe), AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (an S3-compatible endpoint, "
      "addressed path-style; default: AWS S3), IMGFLOW_DEADLINE_MARGIN_MS (default 1000), "
      "SSL_CERT_FILE.\n"
      "IMGFLOW_MODE=presign instead serves the upload-URL endpoint behind a function URL: it "
      "answers POST {\"content_type\", \"size\"} with a server-chosen key under "
      "IMGFLOW_SOURCE_PREFIX, a presigned PUT URL and a signed POST form for it; it needs "
      "IMGFLOW_SOURCE_BUCKET and not the destination bucket (deploy/aws/README.md).\n"
      "Exit status: 2 the configuration is unusable (reported to Lambda as an init error), 1 "
      "the Runtime API went away or an invocation ran past its deadline.");
}

int run_version() {
  if (auto started = imgflow::image::init(); !started) {
    std::fprintf(stderr, "imgflow: %s\n", started.error().to_string().c_str());
    return 2;
  }
  std::printf("imgflow %s (libvips %s)\n", IMGFLOW_VERSION,
              imgflow::image::libvips_version().c_str());
  return 0;
}

// libvips loads every module in its modules directory when it starts: ImageMagick, Poppler,
// OpenSlide and JPEG XL cost about 20 ms of start-up (half of it) and are attack surface imgflow
// never uses. Pointing VIPSHOME away keeps them all out; HEIF/AVIF, the one module imgflow needs,
// is loaded by name on first use (image/vips_util.cpp). Process-wide, so it is the program's
// decision, made before anything starts libvips.
void keep_libvips_modules_out() {
  setenv("VIPSHOME", "/nonexistent/imgflow-loads-its-vips-modules-itself", 1);
}

}  // namespace

int main(int argc, char** argv) {
  keep_libvips_modules_out();
  // glibc gives every thread that allocates its own arena (up to 8 per core) and rarely returns
  // their memory; libvips' worker threads then hold tens of MiB that no image needs. Two arenas
  // keep peak RSS flat across thousands of images at no measurable CPU cost (large pixel
  // buffers dominate; allocation is not contended).
  mallopt(M_ARENA_MAX, 2);
  // Lambda runs a custom runtime as /var/task/bootstrap, with no arguments.
  if (argc >= 1 && std::filesystem::path(argv[0]).filename() == "bootstrap") {
    return imgflow::cli::run_lambda();
  }
  CLI::App app(kDescription, "imgflow");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("imgflow ") + IMGFLOW_VERSION);
  imgflow::cli::ProcessOptions process;
  add_process(app, process);
  imgflow::cli::ServeOptions serve;
  add_serve(app, serve);
  imgflow::cli::DlqOptions dlq;
  add_dlq(app, dlq);
  imgflow::cli::PresignOptions presign;
  add_presign(app, presign);
  imgflow::cli::ReprocessOptions reprocess;
  add_reprocess(app, reprocess);
  CLI::App* version = app.add_subcommand("version", "Print the imgflow and libvips versions");
  add_lambda(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help and errors; bad usage is exit status 2 by the project's convention.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (version->parsed()) return run_version();
  if (app.got_subcommand("serve")) return imgflow::cli::run_serve(serve);
  if (app.got_subcommand("dlq")) return imgflow::cli::run_dlq(dlq);
  if (app.got_subcommand("presign")) return imgflow::cli::run_presign(presign);
  if (app.got_subcommand("reprocess")) return imgflow::cli::run_reprocess(reprocess);
  if (app.got_subcommand("lambda")) return imgflow::cli::run_lambda();
  return imgflow::cli::run_process(process);
}
