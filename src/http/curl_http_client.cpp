#include "http/curl_http_client.h"

#include <curl/curl.h>

#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace imgflow::http {
namespace {

using core::ErrorCode;

struct CurlEasyCleanup {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyCleanup>;

struct CurlSlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistFree>;

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The state one transfer's callbacks share. Callbacks never throw: they record the first error
// and tell curl to abort.
struct Transfer {
  BodySource* body = nullptr;
  BodySink* sink = nullptr;
  Response response;
  std::optional<core::Error> error;  // from the source, the sink or a callback exception

  void fail(core::Error e) {
    if (!error) error = std::move(e);
  }
};

std::size_t read_cb(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  try {
    auto got = t->body->read(buf, size * n);
    if (!got) {
      t->fail(got.error());
      return CURL_READFUNC_ABORT;
    }
    return *got;
  } catch (const std::exception& e) {
    t->fail({ErrorCode::kInternal, std::string("request body source threw: ") + e.what()});
    return CURL_READFUNC_ABORT;
  }
}

std::size_t write_cb(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->sink == nullptr) return size * n;
  try {
    auto st = t->sink->write(std::string_view(data, size * n));
    if (!st) {
      t->fail(st.error());
      return 0;  // CURLE_WRITE_ERROR
    }
    return size * n;
  } catch (const std::exception& e) {
    t->fail({ErrorCode::kInternal, std::string("response body sink threw: ") + e.what()});
    return 0;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Called once per header line; a status line starts a new response (after 100 Continue).
std::size_t header_cb(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * n);
  try {
    if (line.starts_with("HTTP/")) {
      t->response.headers.clear();
    } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      t->response.headers.push_back(
          {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
    }
    return size * n;
  } catch (const std::exception& e) {
    t->fail({ErrorCode::kInternal, std::string("header callback: ") + e.what()});
    return 0;
  }
}

core::Error curl_error(CURLcode code, const char* detail) {
  std::string message = curl_easy_strerror(code);
  if (detail != nullptr && *detail != '\0') message += std::string(": ") + detail;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return {ErrorCode::kTimeout, std::move(message)};
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return {ErrorCode::kInvalidArgument, std::move(message)};
    default:
      return {ErrorCode::kUnavailable, std::move(message)};
  }
}

}  // namespace

struct CurlHttpClient::Handle {
  CurlEasy curl;
  char error_buffer[CURL_ERROR_SIZE] = {};
};

CurlHttpClient::CurlHttpClient(Options options)
    : max_idle_(options.max_idle_handles), ca_file_(std::move(options.ca_file)) {
  global_init_once();
}

CurlHttpClient::~CurlHttpClient() = default;

std::unique_ptr<CurlHttpClient::Handle> CurlHttpClient::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      curl_easy_reset(h->curl.get());  // keeps the connection cache
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->curl.reset(curl_easy_init());
  return h->curl ? std::move(h) : nullptr;
}

void CurlHttpClient::release(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(handle));
}

core::Result<Response> CurlHttpClient::send(const Request& request, BodySource* body,
                                            BodySink* response_body) {
  auto handle = acquire();
  if (!handle) return core::fail(ErrorCode::kInternal, "curl_easy_init failed");
  CURL* c = handle->curl.get();
  Transfer t{body, response_body, {}, std::nullopt};

  CurlSlist headers;
  const auto append = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();  // `next` is the same list, grown (or a new one)
      headers.reset(next);
    }
  };
  for (const auto& h : request.headers) {
    // "Name;" sends a header with an empty value; "Name:" would remove it.
    append(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
  }
  append("Expect:");

  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, handle->error_buffer);
  handle->error_buffer[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  if (!ca_file_.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);

  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  // PUT and POST always carry a Content-Length (S3 answers 411 without one).
  StringBodySource empty("");
  if (body == nullptr && (request.method == "PUT" || request.method == "POST")) {
    body = &empty;
    t.body = &empty;
  }
  if (body != nullptr) {
    // UPLOAD streams the body through read_cb; CUSTOMREQUEST keeps the method (PUT, POST).
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    if (body == &empty) {
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, curl_off_t{0});
    } else if (request.body_length) {
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(*request.body_length));
    }
  }

  const CURLcode rc = curl_easy_perform(c);
  if (t.error) return core::fail(std::move(*t.error));
  if (rc != CURLE_OK) return core::fail(curl_error(rc, handle->error_buffer));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  t.response.status = static_cast<int>(status);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  release(std::move(handle));
  return std::move(t.response);
}

}  // namespace imgflow::http
