#include "dlq_command.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "admin_access.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/text.h"
#include "gateway/credentials.h"
#include "http/curl_http_client.h"
#include "http/request_head.h"
#include "runtime/dead_letter_api.h"
#include "runtime/quarantine_listing.h"
#include "sigv4/signer.h"
#include "storage/local_store.h"

namespace imgflow::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One call of the dead-letter API, wherever it runs: its JSON answer, or why not.
using ApiCall =
    std::function<core::Result<std::string>(const std::string& method, const std::string& path)>;

int usage_error(const std::string& message) {
  std::fprintf(stderr, "imgflow dlq: %s\n", message.c_str());
  return 2;
}

// The error an admin endpoint answered with: its {"error":...} message, its status read back
// into the code the server's action failed with (the gateway's mapping, reversed).
core::Error error_of_answer(int status, const std::string& body) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string message =
      parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()
          ? parsed["error"].get<std::string>()
          : "HTTP " + std::to_string(status) + " without a JSON error message";
  switch (status) {
    case 400:
      return {core::ErrorCode::kInvalidArgument, std::move(message)};
    case 404:
      return {core::ErrorCode::kNotFound, std::move(message)};
    case 405:
      return {core::ErrorCode::kUnsupported, std::move(message)};
    case 503:
      return {core::ErrorCode::kUnavailable, std::move(message)};
    default:
      return {core::ErrorCode::kInternal, std::move(message)};
  }
}

// Calls the admin endpoint of a running server, signed as the admin.
ApiCall remote_api(std::string endpoint, const gateway::KeyPair& admin) {
  while (endpoint.ends_with('/')) endpoint.pop_back();
  auto client = std::make_shared<http::CurlHttpClient>();
  return [endpoint, admin, client](const std::string& method,
                                   const std::string& path) -> core::Result<std::string> {
    const std::string url_path = "/_imgflow/" + path;
    const std::string host = endpoint.substr(endpoint.find("://") + 3);
    http::RequestHead wire{method, url_path, "", {{"Host", host}}};
    sigv4::SigningParams params;
    params.credentials = {admin.access_key_id, admin.secret_access_key, ""};
    params.time = core::SystemClock::instance().now();
    params.payload_hash = core::to_hex(core::sha256(""));
    if (auto signed_ok = sigv4::sign_request(wire, params); !signed_ok) {
      return core::fail(signed_ok.error());
    }
    http::Request request;
    request.method = method;
    request.url = endpoint + url_path;
    request.headers = std::move(wire.headers);
    request.body_length = 0;
    std::string body;
    http::StringBodySink sink(body);
    auto response = client->send(request, nullptr, &sink);
    if (!response) {
      return core::fail(response.error().code,
                        "cannot reach " + endpoint + ": " + response.error().message);
    }
    if (response->status == 403) {
      return core::fail(core::ErrorCode::kPermissionDenied,
                        endpoint +
                            " refused the admin credentials (HTTP 403); a server started with "
                            "IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY needs the same "
                            "two variables here");
    }
    if (response->status != 200) return core::fail(error_of_answer(response->status, body));
    return body;
  };
}

// Opens the data dir itself: only possible while no server holds it.
ApiCall local_api(const std::shared_ptr<storage::LocalStore>& store,
                  const std::string& quarantine_bucket) {
  auto api = std::make_shared<runtime::DeadLetterApi>(
      *store, [store](std::int64_t id) { return store->redrive(id); },
      [store, quarantine_bucket] { return runtime::list_quarantine(*store, quarantine_bucket); });
  return [store, api](const std::string& method,
                      const std::string& path) -> core::Result<std::string> {
    return api->handle(method, path);
  };
}

// --endpoint; else the data dir directly; else the server that holds it.
core::Result<ApiCall> connect(const DlqOptions& options) {
  if (!options.endpoint.empty()) {
    if (!is_http_url(options.endpoint)) {
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "--endpoint must be the server's URL, e.g. http://127.0.0.1:9000, not '" +
                            options.endpoint + "'");
    }
    auto admin = admin_credentials(options.data_dir);
    if (!admin) return core::fail(admin.error());
    return remote_api(options.endpoint, *admin);
  }
  std::error_code ec;
  if (!fs::is_directory(options.data_dir, ec)) {
    return core::fail(core::ErrorCode::kNotFound,
                      "no data dir at " + options.data_dir.string() +
                          " (pass the server's --data-dir, or --endpoint)");
  }
  auto store = storage::LocalStore::open({.data_dir = options.data_dir});
  if (store) {
    return local_api(std::shared_ptr<storage::LocalStore>(std::move(*store)),
                     options.quarantine_bucket);
  }
  if (store.error().code != core::ErrorCode::kUnavailable) return core::fail(store.error());
  // In use: a server runs on it and says where.
  auto found = read_endpoint_file(options.data_dir / "endpoint");
  if (!found) return core::fail(found.error());
  const std::optional<std::string>& endpoint = *found;
  if (!endpoint || !is_http_url(*endpoint)) {
    return core::fail(core::ErrorCode::kUnavailable,
                      store.error().message + ", and it names no endpoint; pass --endpoint");
  }
  auto admin = admin_credentials(options.data_dir);
  if (!admin) return core::fail(admin.error());
  return remote_api(*endpoint, *admin);
}

// The API's answer as JSON, or why not.
core::Result<json> call_json(const ApiCall& api, const std::string& method,
                             const std::string& path) {
  auto answer = api(method, path);
  if (!answer) return core::fail(answer.error());
  json body = json::parse(*answer, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded())
    return core::fail(core::ErrorCode::kCorrupt, "an answer that is not JSON");
  return body;
}

// JSON for a terminal: JSON escapes C0 controls but leaves C1 controls (U+0080..U+009F, such as
// the one-byte CSI U+009B) as UTF-8, which some terminals obey. They occur only inside strings,
// where \u0080..\u009F is the same text, so the output stays the same JSON.
std::string json_for_terminal(const json& value) {
  const std::string dumped = value.dump(2);
  std::string out;
  out.reserve(dumped.size());
  for (std::size_t i = 0; i < dumped.size(); ++i) {
    const auto byte = static_cast<unsigned char>(dumped[i]);
    const auto next = i + 1 < dumped.size() ? static_cast<unsigned char>(dumped[i + 1]) : 0U;
    if (byte == 0xC2 && next >= 0x80 && next <= 0x9F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[next >> 4U];
      out += kHex[next & 0x0FU];
      ++i;
      continue;
    }
    out += dumped[i];
  }
  return out;
}

std::string text_of(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

void print_table(const json& letters) {
  if (letters.empty()) {
    std::printf("The dead-letter queue is empty.\n");
    return;
  }
  std::printf("%-8s %-24s %-8s %-10s %-32s %s\n", "ID", "FAILED AT", "ATTEMPTS", "FAILURE",
              "OBJECT", "ERROR");
  for (const json& letter : letters) {
    // Keys and errors are the uploader's bytes: escaped, so a CR/LF cannot forge a row and an
    // ESC cannot reach the operator's terminal.
    const std::string object = core::escape_for_terminal(text_of(letter["event"]["bucket"]) + "/" +
                                                         text_of(letter["event"]["key"]));
    std::printf("%-8s %-24s %-8s %-10s %-32s %s\n", text_of(letter["id"]).c_str(),
                text_of(letter["last_failed"]).c_str(), text_of(letter["attempts"]).c_str(),
                text_of(letter["failure"]).c_str(), object.c_str(),
                core::escape_for_terminal(text_of(letter["error"])).c_str());
  }
  std::printf("%zu dead letter%s. Show one: imgflow dlq show ID; retry: imgflow dlq redrive ID\n",
              letters.size(), letters.size() == 1 ? "" : "s");
}

int list(const ApiCall& api, bool as_json) {
  auto body = call_json(api, "GET", "dlq");
  if (!body) return usage_error(body.error().message);
  if (as_json) {
    std::printf("%s\n", json_for_terminal(*body).c_str());
  } else {
    print_table((*body)["dead_letters"]);
  }
  return 0;
}

int show(const ApiCall& api, const std::string& id) {
  auto body = call_json(api, "GET", "dlq/" + id);
  if (!body) {
    std::fprintf(stderr, "imgflow dlq: %s: %s\n", id.c_str(), body.error().message.c_str());
    return body.error().code == core::ErrorCode::kNotFound ? 1 : 2;
  }
  std::printf("%s\n", json_for_terminal(*body).c_str());
  return 0;
}

void print_quarantine(const json& body) {
  const json held = body.value("quarantined", json::array());
  const std::string bucket = core::escape_for_terminal(body.value("bucket", ""));
  if (held.empty()) {
    std::printf("The quarantine (bucket %s) is empty.\n", bucket.c_str());
    return;
  }
  std::printf("%-24s %-10s %-32s %-32s %s\n", "QUARANTINED AT", "SIZE", "SIGNATURE", "UPLOADED AS",
              "KEY");
  for (const json& upload : held) {
    // Keys are the uploader's bytes: escaped, as in the dead-letter table.
    std::printf("%-24s %-10s %-32s %-32s %s\n", text_of(upload["quarantined_at"]).c_str(),
                text_of(upload["size"]).c_str(),
                core::escape_for_terminal(text_of(upload["signature"])).c_str(),
                core::escape_for_terminal(text_of(upload["source_key"])).c_str(),
                core::escape_for_terminal(text_of(upload["key"])).c_str());
  }
  std::printf(
      "%zu infected upload%s in bucket %s%s. Read one as the admin: aws s3 cp "
      "s3://%s/KEY ./\n",
      held.size(), held.size() == 1 ? "" : "s", bucket.c_str(),
      body.value("truncated", false) ? " (the first ones only)" : "", bucket.c_str());
}

int show_quarantine(const ApiCall& api, bool as_json) {
  auto body = call_json(api, "GET", "quarantine");
  if (!body) return usage_error(body.error().message);
  if (as_json) {
    std::printf("%s\n", json_for_terminal(*body).c_str());
  } else {
    print_quarantine(*body);
  }
  return 0;
}

// Redrives or deletes each id; a failed id is reported and the rest still run.
int for_each_id(const ApiCall& api, const std::vector<std::string>& ids, bool redrive) {
  int failed = 0;
  for (const std::string& id : ids) {
    auto body = redrive ? call_json(api, "POST", "dlq/" + id + "/redrive")
                        : call_json(api, "DELETE", "dlq/" + id);
    if (!body) {
      std::fprintf(stderr, "imgflow dlq: %s: %s\n", id.c_str(), body.error().message.c_str());
      ++failed;
    } else if (redrive) {
      std::printf("dead letter %s redriven as event %s\n", id.c_str(),
                  text_of((*body)["event_id"]).c_str());
    } else {
      std::printf("dead letter %s deleted\n", id.c_str());
    }
  }
  return failed == 0 ? 0 : 1;
}

core::Result<std::vector<std::string>> every_id(const ApiCall& api) {
  auto body = call_json(api, "GET", "dlq");
  if (!body) return core::fail(body.error());
  std::vector<std::string> ids;
  for (const json& letter : (*body)["dead_letters"]) ids.push_back(text_of(letter["id"]));
  return ids;
}

}  // namespace

int run_dlq(const DlqOptions& options) {
  const bool needs_ids = options.action == "show" || options.action == "delete" ||
                         (options.action == "redrive" && !options.all);
  if (needs_ids && options.ids.empty()) {
    return usage_error(options.action +
                       " needs at least one dead letter ID (see: imgflow dlq list)");
  }
  if (options.action == "show" && options.ids.size() != 1) {
    return usage_error("show takes exactly one ID");
  }
  if (options.all && !options.ids.empty()) return usage_error("give IDs or --all, not both");
  auto api = connect(options);
  if (!api) return usage_error(api.error().message);
  if (options.action == "list") return list(*api, options.json);
  if (options.action == "quarantine") return show_quarantine(*api, options.json);
  if (options.action == "show") return show(*api, options.ids.front());
  std::vector<std::string> ids = options.ids;
  if (options.all) {
    auto all = every_id(*api);
    if (!all) return usage_error(all.error().message);
    if (all->empty()) std::printf("The dead-letter queue is empty.\n");
    ids = std::move(*all);
  }
  return for_each_id(*api, ids, options.action == "redrive");
}

}  // namespace imgflow::cli
