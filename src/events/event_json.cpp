#include "events/event_json.h"

#include <nlohmann/json.hpp>

#include "events/form_url.h"

namespace imgflow::events {
namespace {

using Json = nlohmann::ordered_json;

Json object_json(const EventRecord& r) {
  Json object = {{"key", form_url_encode(r.key)}};
  if (r.kind() != EventKind::kRemoved) {
    object["size"] = r.size;
    object["eTag"] = r.etag;
  }
  if (!r.version_id.empty()) object["versionId"] = r.version_id;
  object["sequencer"] = r.sequencer;
  return object;
}

Json record_json(const EventRecord& r) {
  return {
      {"eventVersion", "2.1"},
      {"eventSource", r.event_source},
      {"awsRegion", r.aws_region},
      {"eventTime", r.event_time},
      {"eventName", r.event_name},
      {"userIdentity", {{"principalId", r.principal}}},
      {"requestParameters", {{"sourceIPAddress", r.source_ip}}},
      {"responseElements", {{"x-amz-request-id", r.request_id}, {"x-amz-id-2", r.host_id}}},
      {"s3",
       {{"s3SchemaVersion", "1.0"},
        {"configurationId", r.configuration_id},
        {"bucket",
         {{"name", r.bucket},
          {"ownerIdentity", {{"principalId", r.principal}}},
          {"arn", "arn:aws:s3:::" + r.bucket}}},
        {"object", object_json(r)}}},
  };
}

}  // namespace

std::string to_aws_json(const std::vector<EventRecord>& records) {
  Json list = Json::array();
  for (const auto& r : records) list.push_back(record_json(r));
  const Json doc = {{"Records", std::move(list)}};
  // replace: a field that is not UTF-8 cannot make dump() throw (keys are encoded anyway).
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace imgflow::events
