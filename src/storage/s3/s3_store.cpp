#include "storage/s3/s3_store.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <utility>

#include "core/codec.h"
#include "core/digest.h"
#include "core/xml.h"
#include "http/request_head.h"
#include "storage/s3/s3_call.h"
#include "storage/s3/s3_codec.h"
#include "storage/s3/s3_error.h"
#include "storage/s3/spool.h"
#include "storage/store_util.h"

namespace imgflow::storage::s3 {

using core::ErrorCode;

namespace {

constexpr std::size_t kMaxErrorBody = 64 << 10;
constexpr std::size_t kMaxXmlBody = 16 << 20;

// Streams a storage::ByteSource as an HTTP body of exactly `length` bytes, after `prefix` (the
// bytes already read while deciding whether to buffer). A source that ends early or runs long
// fails with kIncompleteBody.
class StreamBody final : public http::BodySource {
 public:
  StreamBody(std::string_view prefix, ByteSource* rest, std::uint64_t length)
      : prefix_(prefix), rest_(rest), length_(length) {}

  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    std::size_t got = 0;
    if (pos_ < prefix_.size()) {
      got = std::min(n, prefix_.size() - static_cast<std::size_t>(pos_));
      std::copy_n(prefix_.data() + pos_, got, buf);
    } else {
      auto r = rest_->read(buf, n);
      if (!r) return core::fail(r.error());
      got = *r;
    }
    pos_ += got;
    if (pos_ > length_ || (got == 0 && pos_ < length_)) {
      return core::fail(
          make_error(ErrorDetail::kIncompleteBody,
                     "the body is not the declared " + std::to_string(length_) + " bytes"));
    }
    return got;
  }

 private:
  std::string_view prefix_;
  ByteSource* rest_;
  std::uint64_t length_;
  std::uint64_t pos_ = 0;
};

// The bytes of one GET, spooled, read back in order.
class S3Reader final : public ObjectReader {
 public:
  S3Reader(ObjectInfo info, std::uint64_t first, std::uint64_t length, bool partial,
           std::unique_ptr<Spool> spool)
      : ObjectReader(std::move(info), first, length, partial), spool_(std::move(spool)) {}

  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    auto got = spool_->read_at(pos_, buf, n);
    if (got) pos_ += *got;
    return got;
  }

 private:
  std::unique_ptr<Spool> spool_;
  std::uint64_t pos_ = 0;
};

bool transient(const core::Error& error) {
  return error.code == ErrorCode::kUnavailable || error.code == ErrorCode::kTimeout;
}

}  // namespace

core::Result<sigv4::Credentials> credentials_from_environment() {
  const char* id = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  const char* token = std::getenv("AWS_SESSION_TOKEN");
  if (id == nullptr || *id == '\0' || secret == nullptr || *secret == '\0') {
    return core::fail(ErrorCode::kInvalidArgument,
                      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  return sigv4::Credentials{id, secret, token != nullptr ? token : ""};
}

core::Result<std::unique_ptr<S3Store>> S3Store::create(S3Config config, http::HttpClient& client,
                                                       const core::Clock& clock, Sleep sleep) {
  if (config.region.empty()) return core::fail(ErrorCode::kInvalidArgument, "S3 region is empty");
  auto endpoint = parse_s3_endpoint(config.endpoint, config.region);
  if (!endpoint) return core::fail(endpoint.error());
  if (!endpoint->base_path.empty()) {
    return core::fail(ErrorCode::kInvalidArgument,
                      "S3 endpoint must be http(s)://host[:port], without a path, got \"" +
                          config.endpoint + "\"");
  }
  sigv4::Credentials credentials;
  if (config.credentials) {
    credentials = *config.credentials;
  } else {
    auto env = credentials_from_environment();
    if (!env) return core::fail(env.error());
    credentials = std::move(*env);
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return core::fail(ErrorCode::kInvalidArgument, "S3 credentials need an access key pair");
  }
  if (!sleep) sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  return std::unique_ptr<S3Store>(new S3Store(std::move(config), std::move(*endpoint),
                                              std::move(credentials), client, clock,
                                              std::move(sleep)));
}

S3Store::S3Store(S3Config config, S3Endpoint endpoint, sigv4::Credentials credentials,
                 http::HttpClient& client, const core::Clock& clock, Sleep sleep)
    : config_(std::move(config)),
      endpoint_(std::move(endpoint)),
      credentials_(std::move(credentials)),
      client_(client),
      clock_(clock),
      sleep_(std::move(sleep)),
      rng_(std::random_device{}()) {}

// ---- Request machinery -----------------------------------------------------------------------

core::Result<http::Request> S3Store::build(const Call& call, std::string_view payload_hash) const {
  const S3Target target = s3_target(endpoint_, config_.path_style, call.bucket, call.key);
  std::string query;
  for (const auto& [name, value] : call.query) {
    if (!query.empty()) query += '&';
    query += core::uri_encode(name, false);
    if (!value.empty()) query += "=" + core::uri_encode(value, false);
  }

  http::RequestHead signed_request{call.method, target.path, query, {{"Host", target.host}}};
  signed_request.headers.insert(signed_request.headers.end(), call.headers.begin(),
                                call.headers.end());
  sigv4::SigningParams params;
  params.credentials = credentials_;
  params.region = config_.region;
  params.time = clock_.now();
  params.payload_hash = std::string(payload_hash);
  auto signed_ok = sigv4::sign_request(signed_request, params);
  if (!signed_ok) return core::fail(signed_ok.error());

  http::Request request;
  request.method = call.method;
  request.url = s3_url(endpoint_, target, query);
  request.headers = std::move(signed_request.headers);
  // Unsigned, as the AWS SDKs send it: X-Ray's trace header.
  if (config_.trace_id) {
    if (std::string trace = config_.trace_id(); !trace.empty()) {
      request.headers.push_back({"X-Amzn-Trace-Id", std::move(trace)});
    }
  }
  request.body_length =
      call.body ? std::optional<std::uint64_t>(call.body->size()) : call.stream_length;
  request.connect_timeout = config_.connect_timeout;
  request.timeout = config_.timeout;
  return request;
}

std::chrono::milliseconds S3Store::backoff(int retry) {
  const auto base = config_.retry.base_delay.count();
  const auto cap =
      std::min<std::int64_t>(config_.retry.max_delay.count(), base << std::min(retry, 20));
  std::lock_guard lock(rng_mu_);
  std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(cap, 0));
  return std::chrono::milliseconds(jitter(rng_));
}

core::Result<http::Response> S3Store::execute(const Call& call, Spool& body) {
  const std::string payload_hash = call.stream != nullptr
                                       ? std::string(sigv4::kUnsignedPayload)
                                       : core::to_hex(core::sha256(call.body.value_or("")));
  const bool retryable = call.idempotent && call.stream == nullptr;
  const int attempts = retryable ? std::max(1, config_.retry.max_attempts) : 1;
  core::Error last{ErrorCode::kInternal, "no attempt was made"};
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) sleep_(backoff(attempt - 1));
    body.clear();
    auto request = build(call, payload_hash);  // signed afresh: X-Amz-Date moves on
    if (!request) return core::fail(request.error());
    http::StringBodySource memory(call.body.value_or(""));
    StreamBody stream(call.stream_prefix, call.stream, call.stream_length.value_or(0));
    http::BodySource* source = nullptr;
    if (call.stream != nullptr) {
      source = &stream;
    } else if (call.body) {
      source = &memory;
    }
    auto response = client_.send(*request, source, &body);
    if (!response) {
      last = response.error();
      if (transient(last)) continue;
      return core::fail(std::move(last));
    }
    const bool ok = response->status >= 200 && response->status < 300;
    if (ok && !call.embedded_error) return response;
    S3ErrorBody error;
    if (body.size() > 0) {
      if (auto text = body.text(kMaxErrorBody)) error = parse_error_body(*text);
    }
    if (ok && error.code.empty()) return response;
    const int status = ok ? 500 : response->status;  // an <Error> inside a 200
    last = to_error(status, error, call.target);
    if (!is_retryable(status, error)) return core::fail(std::move(last));
  }
  return core::fail(std::move(last));
}

core::Result<core::XmlElement> S3Store::execute_xml(const Call& call, std::string_view root) {
  Spool spool(kMaxXmlBody);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  if (spool.size() > kMaxXmlBody) return core::fail(corrupt_response("XML body over 16 MiB"));
  auto text = spool.text(kMaxXmlBody);
  if (!text) return core::fail(text.error());
  auto doc = core::parse_xml(*text);
  if (!doc) return core::fail(corrupt_response(doc.error().message));
  if (doc->name != root)
    return core::fail(corrupt_response("expected <" + std::string(root) + ">"));
  return doc;
}

core::Status S3Store::attach_body(Call& call, ByteSource& body, std::optional<std::uint64_t> length,
                                  std::string& buffer) {
  // Read up to one byte past the buffering limit: a body that ends within it is sent whole.
  const std::size_t limit = config_.max_buffered_body;
  buffer.clear();
  std::string chunk(64 << 10, '\0');
  while (buffer.size() <= limit) {
    auto n = body.read(chunk.data(), std::min(chunk.size(), limit + 1 - buffer.size()));
    if (!n) return core::fail(n.error());
    if (*n == 0) {
      if (length && *length != buffer.size()) {
        return core::fail(make_error(ErrorDetail::kIncompleteBody,
                                     "the body has " + std::to_string(buffer.size()) +
                                         " bytes, not the declared " + std::to_string(*length)));
      }
      call.body = buffer;
      return {};
    }
    buffer.append(chunk.data(), *n);
  }
  if (!length) {
    return core::fail(ErrorCode::kInvalidArgument,
                      "a body over " + std::to_string(limit) +
                          " bytes needs its content_length (S3 refuses bodies of unknown length)");
  }
  if (*length > kMaxObjectSize) {
    return core::fail(make_error(ErrorDetail::kEntityTooLarge, "the body is over 5 GiB"));
  }
  call.stream = &body;
  call.stream_prefix = buffer;
  call.stream_length = length;
  return {};
}

// ---- Buckets ---------------------------------------------------------------------------------

core::Status S3Store::create_bucket(std::string_view bucket) {
  if (auto st = validate_bucket_name(bucket); !st) return st;
  Call call{.method = "PUT", .target = Target::kBucket, .bucket = std::string(bucket)};
  std::string body;
  if (config_.region != "us-east-1") {
    body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        core::xml_escape(config_.region) + "</LocationConstraint></CreateBucketConfiguration>";
    call.body = body;
  }
  Spool spool(kMaxErrorBody);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  return {};
}

core::Status S3Store::delete_bucket(std::string_view bucket) {
  if (auto st = validate_bucket_name(bucket); !st) return st;
  Call call{.method = "DELETE", .target = Target::kBucket, .bucket = std::string(bucket)};
  Spool spool(kMaxErrorBody);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  return {};
}

core::Result<BucketInfo> S3Store::head_bucket(std::string_view bucket) {
  if (auto st = validate_bucket_name(bucket); !st) return core::fail(st.error());
  Call call{.method = "HEAD", .target = Target::kBucket, .bucket = std::string(bucket)};
  Spool spool(kMaxErrorBody);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  return BucketInfo{std::string(bucket), {}};
}

core::Result<std::vector<BucketInfo>> S3Store::list_buckets() {
  Call call{.method = "GET", .target = Target::kService};
  auto doc = execute_xml(call, "ListAllMyBucketsResult");
  if (!doc) return core::fail(doc.error());
  std::vector<BucketInfo> out;
  if (const core::XmlElement* buckets = doc->child("Buckets")) {
    for (const core::XmlElement* b : buckets->all("Bucket")) {
      BucketInfo info{b->child_text("Name"), {}};
      if (auto t = parse_xml_time(b->child_text("CreationDate"))) info.created = *t;
      out.push_back(std::move(info));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

// ---- Objects ---------------------------------------------------------------------------------

core::Result<ObjectInfo> S3Store::put(std::string_view bucket, std::string_view key,
                                      ByteSource& body, const PutOptions& options) {
  if (auto st = check_names(bucket, key); !st) return core::fail(st.error());
  Call call{.method = "PUT", .bucket = std::string(bucket), .key = std::string(key)};
  add_metadata_headers(call.headers, options.content_type, options.cache_control,
                       options.user_metadata);
  if (options.content_md5) call.headers.push_back({"Content-MD5", *options.content_md5});
  if (options.checksum) {
    call.headers.push_back(
        {checksum_header(options.checksum->algorithm), options.checksum->base64});
  }
  if (options.if_none_match_star) call.headers.push_back({"If-None-Match", "*"});
  if (options.if_match) call.headers.push_back({"If-Match", quoted_etag(*options.if_match)});
  // One byte past the limit tells a body that fits one PUT from one that needs parts.
  std::string buffer;
  if (auto st = read_up_to(body, config_.max_buffered_body + 1, buffer); !st) {
    return core::fail(st.error());
  }
  if (buffer.size() > config_.max_buffered_body) {
    return put_multipart(bucket, key, body, std::move(buffer), options);
  }
  if (options.content_length && *options.content_length != buffer.size()) {
    return core::fail(
        make_error(ErrorDetail::kIncompleteBody, "the body has " + std::to_string(buffer.size()) +
                                                     " bytes, not the declared " +
                                                     std::to_string(*options.content_length)));
  }
  call.body = buffer;
  Spool spool(kMaxErrorBody);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  return put_result(key, buffer.size(), strip_quotes(response->header("etag").value_or("")),
                    options);
}

ObjectInfo S3Store::put_result(std::string_view key, std::uint64_t size, std::string etag,
                               const PutOptions& options) const {
  ObjectInfo info;
  info.key = std::string(key);
  info.size = size;
  info.etag = std::move(etag);
  info.content_type = options.content_type;
  info.user_metadata = options.user_metadata;
  info.cache_control = options.cache_control;
  info.checksum = options.checksum;
  info.last_modified = clock_.now();  // S3 does not return it
  return info;
}

core::Result<std::unique_ptr<ObjectReader>> S3Store::open(std::string_view bucket,
                                                          std::string_view key,
                                                          const GetOptions& options) {
  if (auto st = check_names(bucket, key); !st) return core::fail(st.error());
  Call call{.method = "GET", .bucket = std::string(bucket), .key = std::string(key)};
  if (options.range) call.headers.push_back({"Range", range_header(*options.range)});
  auto spool = std::make_unique<Spool>(config_.max_memory_response);
  auto response = execute(call, *spool);
  if (!response) return core::fail(response.error());
  ObjectInfo info = info_from_headers(key, *response);
  std::uint64_t first = 0;
  bool partial = false;
  if (response->status == 206) {
    const auto range = parse_content_range(response->header("content-range").value_or(""));
    if (!range) return core::fail(corrupt_response("206 without a valid Content-Range"));
    first = range->first;
    info.size = range->total;
    partial = true;
    if (spool->size() != range->last - range->first + 1) {
      return core::fail(ErrorCode::kUnavailable, "S3 GET body was cut short");
    }
  } else if (spool->size() != info.size) {
    return core::fail(ErrorCode::kUnavailable, "S3 GET body was cut short");
  }
  const std::uint64_t length = spool->size();
  return std::unique_ptr<ObjectReader>(
      std::make_unique<S3Reader>(std::move(info), first, length, partial, std::move(spool)));
}

core::Result<ObjectInfo> S3Store::head(std::string_view bucket, std::string_view key) {
  if (auto st = check_names(bucket, key); !st) return core::fail(st.error());
  Call call{.method = "HEAD", .bucket = std::string(bucket), .key = std::string(key)};
  Spool spool(kMaxErrorBody);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  return info_from_headers(key, *response);
}

core::Status S3Store::delete_object(std::string_view bucket, std::string_view key,
                                    const DeleteOptions& /*options*/) {  // S3 raises its own
  if (auto st = check_names(bucket, key); !st) return st;
  Call call{.method = "DELETE", .bucket = std::string(bucket), .key = std::string(key)};
  Spool spool(kMaxErrorBody);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  return {};
}

core::Result<ListResult> S3Store::list(std::string_view bucket, const ListOptions& options) {
  if (auto st = validate_bucket_name(bucket); !st) return core::fail(st.error());
  if (options.max_keys < 0) {
    return core::fail(make_error(ErrorDetail::kInvalidArgument, "max-keys must not be negative"));
  }
  Call call{.method = "GET", .target = Target::kBucket, .bucket = std::string(bucket)};
  call.query = {{"list-type", "2"},
                {"encoding-type", "url"},
                {"max-keys", std::to_string(std::min(options.max_keys, kMaxListKeys))}};
  if (!options.prefix.empty()) call.query.emplace_back("prefix", options.prefix);
  if (!options.delimiter.empty()) call.query.emplace_back("delimiter", options.delimiter);
  if (!options.continuation_token.empty()) {
    call.query.emplace_back("continuation-token", options.continuation_token);
  } else if (!options.start_after.empty()) {
    call.query.emplace_back("start-after", options.start_after);
  }
  auto doc = execute_xml(call, "ListBucketResult");
  if (!doc) return core::fail(doc.error());
  // With encoding-type=url, keys come back form-encoded; a server that ignores the parameter
  // omits <EncodingType>, and its keys are taken as they are.
  const bool encoded = doc->child_text("EncodingType") == "url";
  const auto text = [encoded](std::string value) {
    return encoded ? core::percent_decode(value, true) : value;
  };
  ListResult result;
  for (const core::XmlElement* c : doc->all("Contents")) {
    ObjectInfo info;
    info.key = text(c->child_text("Key"));
    const auto size = core::parse_u64(c->child_text("Size"));
    if (info.key.empty() || !size)
      return core::fail(corrupt_response("a <Contents> without Key or Size"));
    info.size = *size;
    info.etag = strip_quotes(c->child_text("ETag"));
    if (auto t = parse_xml_time(c->child_text("LastModified"))) info.last_modified = *t;
    result.objects.push_back(std::move(info));
  }
  for (const core::XmlElement* p : doc->all("CommonPrefixes")) {
    result.common_prefixes.push_back(text(p->child_text("Prefix")));
  }
  result.is_truncated = doc->child_text("IsTruncated") == "true";
  result.next_continuation_token = doc->child_text("NextContinuationToken");
  result.key_count = static_cast<int>(result.objects.size() + result.common_prefixes.size());
  if (result.is_truncated && result.next_continuation_token.empty()) {
    return core::fail(corrupt_response("a truncated listing without NextContinuationToken"));
  }
  return result;
}

core::Result<ObjectInfo> S3Store::copy(std::string_view src_bucket, std::string_view src_key,
                                       std::string_view dst_bucket, std::string_view dst_key,
                                       const CopyOptions& options) {
  if (auto st = check_names(src_bucket, src_key); !st) return core::fail(st.error());
  if (auto st = check_names(dst_bucket, dst_key); !st) return core::fail(st.error());
  Call call{.method = "PUT", .bucket = std::string(dst_bucket), .key = std::string(dst_key)};
  call.embedded_error = true;
  call.headers.push_back(
      {"x-amz-copy-source", "/" + std::string(src_bucket) + "/" + core::uri_encode(src_key, true)});
  call.headers.push_back(
      {"x-amz-metadata-directive", options.replace_metadata ? "REPLACE" : "COPY"});
  if (options.replace_metadata) {
    add_metadata_headers(call.headers, options.content_type, options.cache_control,
                         options.user_metadata);
  }
  if (options.if_none_match_star) call.headers.push_back({"If-None-Match", "*"});
  auto doc = execute_xml(call, "CopyObjectResult");
  if (!doc) return core::fail(doc.error());
  auto info = head(dst_bucket, dst_key);  // size and metadata are not in the copy result
  if (!info) return core::fail(info.error());
  info->etag = strip_quotes(doc->child_text("ETag"));
  if (auto t = parse_xml_time(doc->child_text("LastModified"))) info->last_modified = *t;
  return info;
}

}  // namespace imgflow::storage::s3
