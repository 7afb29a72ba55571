#include "events/event_parser.h"

#include <charconv>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "core/codec.h"
#include "events/form_url.h"

namespace imgflow::events {
namespace {

using core::ErrorCode;
using Json = nlohmann::json;

core::Error invalid(std::string message) {
  return core::Error{ErrorCode::kInvalidArgument, std::move(message)};
}

// Typed access to one JSON object, with field paths for error messages. Null counts as absent.
class Fields {
 public:
  Fields(const Json& object, std::string where) : object_(object), where_(std::move(where)) {}

  const Json* find(std::string_view name) const {
    const auto it = object_.find(name);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string path(std::string_view name) const { return where_ + "." + std::string(name); }

  core::Result<std::string> string(std::string_view name, bool required = false) const {
    const Json* v = find(name);
    if (v == nullptr) {
      if (required) return core::fail(invalid(path(name) + " is missing"));
      return std::string();
    }
    if (!v->is_string()) return core::fail(invalid(path(name) + " must be a string"));
    if (required && v->get_ref<const std::string&>().empty()) {
      return core::fail(invalid(path(name) + " must not be empty"));
    }
    return v->get<std::string>();
  }

  // A nested object; an absent optional one reads as {}.
  core::Result<Fields> object(std::string_view name, bool required = false) const {
    static const Json kEmpty = Json::object();
    const Json* v = find(name);
    if (v == nullptr) {
      if (required) return core::fail(invalid(path(name) + " is missing"));
      return Fields(kEmpty, path(name));
    }
    if (!v->is_object()) return core::fail(invalid(path(name) + " must be an object"));
    return Fields(*v, path(name));
  }

  // A non-negative integer, or a decimal string of one (Ceph RGW sends "size":"1024").
  core::Result<std::uint64_t> size(std::string_view name) const {
    const Json* v = find(name);
    if (v == nullptr) return std::uint64_t{0};
    if (v->is_number_unsigned()) return v->get<std::uint64_t>();
    if (v->is_number_integer()) return core::fail(invalid(path(name) + " must not be negative"));
    if (v->is_string()) {
      const auto& s = v->get_ref<const std::string&>();
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) return n;
    }
    return core::fail(invalid(path(name) + " must be a non-negative integer"));
  }

 private:
  const Json& object_;
  std::string where_;
};

// "s3:ObjectCreated:Put" (MinIO, older Ceph) → "ObjectCreated:Put".
std::string normalise_name(std::string name) {
  while (name.starts_with("s3:")) name.erase(0, 3);
  return name;
}

core::Result<std::string> decode_key(const std::string& raw, const std::string& where) {
  auto key = form_url_decode(raw);
  if (!key) return core::fail(invalid(where + ": " + key.error().message));
  if (key->empty()) return core::fail(invalid(where + " must not be empty"));
  return key;
}

// Reads the fields of `object` into the record; the key of `object` is required.
core::Status read_object(const Fields& object, EventRecord& r) {
  auto key = object.string("key", true);
  if (!key) return core::fail(key.error());
  auto decoded = decode_key(*key, object.path("key"));
  if (!decoded) return core::fail(decoded.error());
  r.key = std::move(*decoded);
  auto size = object.size("size");
  if (!size) return core::fail(size.error());
  r.size = *size;
  auto etag = object.string(object.find("eTag") != nullptr ? "eTag" : "etag");
  auto version = object.string(object.find("versionId") != nullptr ? "versionId" : "version-id");
  auto sequencer = object.string("sequencer");
  for (auto* field : {&etag, &version, &sequencer}) {
    if (!*field) return core::fail(field->error());
  }
  r.etag = std::move(*etag);
  r.version_id = std::move(*version);
  r.sequencer = std::move(*sequencer);
  return {};
}

core::Result<EventRecord> parse_record(const Json& json, std::string where) {
  if (!json.is_object()) return core::fail(invalid(where + " must be an object"));
  const Fields rec(json, where);
  EventRecord r;
  auto name = rec.string("eventName", true);
  auto source = rec.string("eventSource");
  auto region = rec.string("awsRegion");
  auto time = rec.string("eventTime");
  auto user = rec.object("userIdentity");
  auto params = rec.object("requestParameters");
  auto response = rec.object("responseElements");
  auto s3 = rec.object("s3", true);
  for (auto* s : {&name, &source, &region, &time}) {
    if (!*s) return core::fail(s->error());
  }
  for (auto* o : {&user, &params, &response, &s3}) {
    if (!*o) return core::fail(o->error());
  }
  r.event_name = normalise_name(std::move(*name));
  if (r.event_name.empty()) return core::fail(invalid(rec.path("eventName") + " names no event"));
  r.event_source = std::move(*source);
  r.aws_region = std::move(*region);
  r.event_time = std::move(*time);
  auto principal = user->string("principalId");
  auto ip = params->string("sourceIPAddress");
  auto request_id = response->string("x-amz-request-id");
  auto host_id = response->string("x-amz-id-2");
  auto config = s3->string("configurationId");
  for (auto* s : {&principal, &ip, &request_id, &host_id, &config}) {
    if (!*s) return core::fail(s->error());
  }
  r.principal = std::move(*principal);
  r.source_ip = std::move(*ip);
  r.request_id = std::move(*request_id);
  r.host_id = std::move(*host_id);
  r.configuration_id = std::move(*config);
  auto bucket = s3->object("bucket", true);
  if (!bucket) return core::fail(bucket.error());
  auto bucket_name = bucket->string("name", true);
  if (!bucket_name) return core::fail(bucket_name.error());
  r.bucket = std::move(*bucket_name);
  auto object = s3->object("object", true);
  if (!object) return core::fail(object.error());
  if (auto st = read_object(*object, r); !st) return core::fail(st.error());
  return r;
}

// EventBridge names the operation in detail.reason / detail.deletion-type.
core::Result<std::string> bridge_event_name(std::string_view detail_type, const Fields& detail) {
  if (detail_type == "Object Created") {
    auto reason = detail.string("reason");
    if (!reason) return core::fail(reason.error());
    if (*reason == "PutObject" || reason->empty()) return std::string("ObjectCreated:Put");
    if (*reason == "POST Object") return std::string("ObjectCreated:Post");
    if (*reason == "CopyObject") return std::string("ObjectCreated:Copy");
    return "ObjectCreated:" + *reason;
  }
  if (detail_type == "Object Deleted") {
    auto type = detail.string("deletion-type");
    if (!type) return core::fail(type.error());
    return std::string(*type == "Delete Marker Created" ? "ObjectRemoved:DeleteMarkerCreated"
                                                        : "ObjectRemoved:Delete");
  }
  return core::fail(ErrorCode::kUnsupported, "EventBridge detail-type \"" +
                                                 std::string(detail_type) +
                                                 "\" is not an object created or deleted event");
}

core::Result<std::vector<EventRecord>> parse_bridge(const Fields& top) {
  auto detail_type = top.string("detail-type", true);
  auto detail = top.object("detail", true);
  if (!detail_type) return core::fail(detail_type.error());
  if (!detail) return core::fail(detail.error());
  EventRecord r;
  auto name = bridge_event_name(*detail_type, *detail);
  if (!name) return core::fail(name.error());
  r.event_name = std::move(*name);
  auto region = top.string("region");
  auto time = top.string("time");
  auto requester = detail->string("requester");
  auto ip = detail->string("source-ip-address");
  auto request_id = detail->string("request-id");
  for (auto* s : {&region, &time, &requester, &ip, &request_id}) {
    if (!*s) return core::fail(s->error());
  }
  r.aws_region = std::move(*region);
  r.event_time = std::move(*time);
  r.principal = std::move(*requester);
  r.source_ip = std::move(*ip);
  r.request_id = std::move(*request_id);
  auto bucket = detail->object("bucket", true);
  if (!bucket) return core::fail(bucket.error());
  auto bucket_name = bucket->string("name", true);
  if (!bucket_name) return core::fail(bucket_name.error());
  r.bucket = std::move(*bucket_name);
  auto object = detail->object("object", true);
  if (!object) return core::fail(object.error());
  if (auto st = read_object(*object, r); !st) return core::fail(st.error());
  return std::vector<EventRecord>{std::move(r)};
}

core::Result<std::vector<EventRecord>> parse_document(const Json& doc) {
  if (!doc.is_object()) return core::fail(invalid("event must be a JSON object"));
  const Fields top(doc, "event");
  if (const Json* e = top.find("Event"); e != nullptr && e->is_string() && *e == "s3:TestEvent") {
    return std::vector<EventRecord>{};
  }
  if (const Json* s = top.find("source"); s != nullptr && s->is_string() && *s == "aws.s3") {
    return parse_bridge(top);
  }
  const Json* list = top.find("Records");
  if (list == nullptr) return core::fail(invalid("event has no Records"));
  if (!list->is_array()) return core::fail(invalid("Records must be an array"));
  if (list->size() > kMaxEventRecords) {
    return core::fail(ErrorCode::kTooLarge, "event has " + std::to_string(list->size()) +
                                                " records; the limit is " +
                                                std::to_string(kMaxEventRecords));
  }
  std::vector<EventRecord> records;
  records.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto r = parse_record((*list)[i], "Records[" + std::to_string(i) + "]");
    if (!r) return core::fail(r.error());
    records.push_back(std::move(*r));
  }
  return records;
}

}  // namespace

core::Result<std::vector<EventRecord>> parse_event(std::string_view json) {
  if (json.size() > kMaxEventBytes) {
    return core::fail(ErrorCode::kTooLarge, "event is " + std::to_string(json.size()) +
                                                " bytes; the limit is " +
                                                std::to_string(kMaxEventBytes));
  }
  if (!core::json_nesting_within(json, kMaxJsonDepth)) {
    return core::fail(ErrorCode::kTooLarge,
                      "event nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    const Json doc = Json::parse(json);
    return parse_document(doc);
  } catch (const Json::parse_error& e) {
    return core::fail(ErrorCode::kCorrupt, std::string("event is not valid JSON: ") + e.what());
  } catch (const std::exception& e) {  // the module boundary for nlohmann exceptions
    return core::fail(ErrorCode::kInvalidArgument, std::string("malformed event: ") + e.what());
  }
}

}  // namespace imgflow::events
