#include <algorithm>

#include "core/codec.h"
#include "events/event_record.h"
#include "gateway/form_data_reader.h"
#include "gateway/operation.h"
#include "gateway/xml.h"
#include "sigv4/post_policy.h"

namespace imgflow::gateway {
namespace {

// Counts the file bytes of a POST as they stream and fails the read that crosses the size
// window, so the store never commits a file the policy (or the anonymous limit) excludes.
class SizeCheckedSource final : public storage::ByteSource {
 public:
  SizeCheckedSource(storage::ByteSource& inner, std::uint64_t min, std::uint64_t max)
      : inner_(inner), min_(min), max_(max) {}

  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    auto got = inner_.read(buf, n);
    if (!got) return got;
    count_ += *got;
    if (count_ > max_) {
      error_ = s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size");
    } else if (*got == 0 && count_ < min_) {
      error_ = s3_error("EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed size");
    }
    if (error_) return core::fail(core::ErrorCode::kInvalidArgument, error_->message);
    return got;
  }
  const std::optional<S3Error>& error() const { return error_; }

 private:
  storage::ByteSource& inner_;
  std::uint64_t min_;
  std::uint64_t max_;
  std::uint64_t count_ = 0;
  std::optional<S3Error> error_;
};

std::optional<std::string_view> form_field(const std::vector<sigv4::FormField>& fields,
                                           std::string_view lower_name) {
  for (const auto& f : fields) {
    if (core::to_lower(f.name) == lower_name) return std::string_view(f.value);
  }
  return std::nullopt;
}

tl::unexpected<S3Error> malformed_post(const core::Error& error) {
  if (error.code == core::ErrorCode::kTooLarge) return err("EntityTooLarge", error.message);
  return err(
      "MalformedPOSTRequest",
      "The body of your POST request is not well-formed multipart/form-data: " + error.message);
}

// Reads the form fields up to the file part; the reader is then positioned on the file data.
tl::expected<std::pair<std::vector<sigv4::FormField>, FormPart>, S3Error> read_form_fields(
    FormDataReader& form) {
  std::vector<sigv4::FormField> fields;
  for (;;) {
    auto part = form.next();
    if (!part) return malformed_post(part.error());
    if (!*part) return err("InvalidArgument", "POST requires exactly one file upload per request.");
    if (core::to_lower((*part)->name) == "file") {
      return std::pair{std::move(fields), std::move(**part)};
    }
    auto value = form.read_value(sigv4::kMaxPolicyBytes);
    if (!value) return malformed_post(value.error());
    fields.push_back({(*part)->name, std::move(*value)});
  }
}

// Who is uploading and how many bytes they may send: a signed policy names a principal and may
// narrow the size; a bare form is the anonymous uploader.
struct PostAuth {
  Principal principal = Principal::kAnonymous;
  std::string access_key_id;
  std::uint64_t min_size = 0;
  std::uint64_t max_size = 0;
};

tl::expected<PostAuth, S3Error> authenticate_post(const Call& call,
                                                  const std::vector<sigv4::FormField>& fields) {
  PostAuth auth;
  auth.max_size = call.ctx.options.anonymous.max_bytes;
  if (!form_field(fields, "policy") && !form_field(fields, "x-amz-signature")) return auth;
  sigv4::VerifierOptions options;
  options.region = call.ctx.options.region;
  auto verified = sigv4::verify_post_policy(fields, call.s3.bucket, call.ctx.credentials,
                                            call.ctx.clock, options);
  if (!verified) return tl::unexpected(from_auth_error(verified.error()));
  auth.principal = principal_from(verified->principal);
  auth.access_key_id = verified->access_key_id;
  if (auth.principal != Principal::kAnonymous) auth.max_size = storage::kMaxObjectSize;
  for (const auto& c : verified->policy.conditions) {
    if (c.op == sigv4::PolicyCondition::Op::kContentLengthRange) {
      auth.min_size = std::max(auth.min_size, c.min);
      auth.max_size = std::min(auth.max_size, c.max);
    }
  }
  return auth;
}

// The object key: the "key" field with ${filename} replaced by the file's name, as S3 does.
tl::expected<std::string, S3Error> post_key(const std::vector<sigv4::FormField>& fields,
                                            const FormPart& file) {
  auto key_template = form_field(fields, "key");
  if (!key_template || key_template->empty()) {
    return err("InvalidArgument", "Bucket POST must contain a field named 'key'.");
  }
  std::string key(*key_template);
  if (const std::size_t at = key.find("${filename}"); at != std::string::npos) {
    key.replace(at, 11, file.filename.value_or(""));
  }
  return key;
}

tl::expected<storage::PutOptions, S3Error> post_put_options(
    const Call& call, const std::vector<sigv4::FormField>& fields, const FormPart& file,
    const PostAuth& auth, const std::string& key) {
  storage::PutOptions options;
  options.content_type = std::string(
      form_field(fields, "content-type")
          .value_or(file.content_type.empty() ? "application/octet-stream" : file.content_type));
  for (const auto& f : fields) {
    const std::string name = core::to_lower(f.name);
    if (name.starts_with("x-amz-meta-")) options.user_metadata[name.substr(11)] = f.value;
  }
  if (auto denied = check_new_object(auth.principal, call.ctx.options, key, options.content_type,
                                     options.user_metadata)) {
    return tl::unexpected(*denied);
  }
  // A stranger's upload is create-only, as for PUT.
  options.if_none_match_star = !may_replace_objects(auth.principal, call.ctx.options.anonymous);
  options.cache_control = std::string(form_field(fields, "cache-control").value_or(""));
  if (call.s3.bucket == call.ctx.options.roles.source) {
    options.event =
        storage::EventToRecord{std::string(events::kObjectCreatedPost),
                               event_payload(to_string(auth.principal), auth.access_key_id,
                                             call.http.remote_ip, call.http.request_id)};
  }
  return options;
}

// Where the browser goes after a successful upload: success_action_redirect, or the older
// "redirect" field. Checked before the upload, so a form with a bad URL stores nothing; the
// URL must be absolute http(s) and may not carry bytes that could split the Location header.
tl::expected<std::optional<std::string>, S3Error> post_redirect(
    const std::vector<sigv4::FormField>& fields) {
  auto url = form_field(fields, "success_action_redirect");
  if (!url) url = form_field(fields, "redirect");
  if (!url) return std::nullopt;
  const bool absolute = url->starts_with("http://") || url->starts_with("https://");
  const bool clean = std::none_of(url->begin(), url->end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
  });
  if (!absolute || !clean) {
    return err("InvalidArgument",
               "success_action_redirect must be an absolute http or https URL without spaces "
               "or control characters");
  }
  return std::string(*url);
}

// 303 to the redirect URL with bucket, key and the quoted ETag appended to its query, as S3
// does.
Response redirect_response(std::string_view url, std::string_view bucket, std::string_view key,
                           const storage::ObjectInfo& info) {
  std::string location(url);
  location += location.find('?') == std::string::npos ? '?' : '&';
  location += "bucket=" + core::uri_encode(bucket, false);
  location += "&key=" + core::uri_encode(key, false);
  location += "&etag=" + core::uri_encode(quoted(info.etag), false);
  Response r;
  r.status = 303;
  r.set("ETag", quoted(info.etag));
  r.set("Location", std::move(location));
  return r;
}

// A redirect wins; else success_action_status 200 or 201 (with a PostResponse document); 204
// otherwise, as S3 does.
Response post_response(const Call& call, const std::vector<sigv4::FormField>& fields,
                       const std::optional<std::string>& redirect, const std::string& key,
                       const storage::ObjectInfo& info) {
  if (redirect) return redirect_response(*redirect, call.s3.bucket, key, info);
  const std::string location =
      "http://" + call.http.host + "/" + call.s3.bucket + "/" + core::uri_encode(key, true);
  const auto status = form_field(fields, "success_action_status");
  Response r;
  r.status = status == "200" ? 200 : status == "201" ? 201 : 204;
  r.set("ETag", quoted(info.etag));
  r.set("Location", location);
  if (r.status == 201) {
    XmlWriter xml;
    xml.open("PostResponse");
    xml.element("Location", location);
    xml.element("Bucket", call.s3.bucket);
    xml.element("Key", key);
    xml.element("ETag", quoted(info.etag));
    xml.close("PostResponse");
    r.set("Content-Type", "application/xml");
    r.body = xml.take();
  }
  return r;
}

}  // namespace

OpResult post_object(const Call& call) {
  const auto boundary = form_boundary(call.s3.header("content-type").value_or(""));
  if (!boundary) {
    return err("PreconditionFailed",
               "Bucket POST must be of the enclosure-type multipart/form-data");
  }
  FormDataReader form(call.body, *boundary);
  auto read = read_form_fields(form);  // the fields come before the file, and are small
  if (!read) return tl::unexpected(read.error());
  const auto& [fields, file] = *read;
  auto auth = authenticate_post(call, fields);
  if (!auth) return tl::unexpected(auth.error());
  const GatewayOptions& gateway = call.ctx.options;
  if (!is_allowed(auth->principal, Operation::kPostObject, call.s3.bucket, gateway.roles,
                  gateway.anonymous)) {
    return err("AccessDenied", denial_message(auth->principal, Operation::kPostObject,
                                              call.s3.bucket, gateway.roles, gateway.anonymous));
  }
  auto key = post_key(fields, file);
  if (!key) return tl::unexpected(key.error());
  auto options = post_put_options(call, fields, file, *auth, *key);
  if (!options) return tl::unexpected(options.error());
  auto redirect = post_redirect(fields);
  if (!redirect) return tl::unexpected(redirect.error());

  SizeCheckedSource file_body(form.body(), auth->min_size, auth->max_size);
  auto info = call.ctx.store.put(call.s3.bucket, *key, file_body, *options);
  if (!info) {
    if (file_body.error()) return tl::unexpected(*file_body.error());
    return tl::unexpected(write_error(call, auth->principal, info.error()));
  }
  // Fields after the file are ignored, as S3 does; read them so the connection stays usable.
  for (auto part = form.next(); part && *part; part = form.next()) {
  }
  Response r = post_response(call, fields, *redirect, *key, *info);
  r.principal = std::string(to_string(auth->principal));
  return r;
}

}  // namespace imgflow::gateway
