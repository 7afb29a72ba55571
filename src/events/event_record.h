#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace imgflow::events {

// What an event means to the handler.
enum class EventKind {
  kCreated,  // ObjectCreated:* (Put, Post, Copy, CompleteMultipartUpload, ...)
  kRemoved,  // ObjectRemoved:* (Delete, DeleteMarkerCreated)
  kTest,     // TestEvent: a configuration probe, carries no object
  kOther,    // anything else (restore, replication, lifecycle, tagging, ...)
};

// The event names a producer records, as S3 names them (normalised: no "s3:" prefix).
inline constexpr std::string_view kObjectCreatedPut = "ObjectCreated:Put";
inline constexpr std::string_view kObjectCreatedPost = "ObjectCreated:Post";
inline constexpr std::string_view kObjectCreatedCopy = "ObjectCreated:Copy";
inline constexpr std::string_view kObjectCreatedCompleteMultipartUpload =
    "ObjectCreated:CompleteMultipartUpload";
inline constexpr std::string_view kObjectRemovedDelete = "ObjectRemoved:Delete";

// Classifies a normalised event name ("ObjectCreated:Put"). An "s3:" prefix is tolerated.
EventKind classify(std::string_view event_name);

// One S3 event record, typed. Parsed from untrusted JSON by parse_event() or built by a producer
// (the gateway's outbox dispatcher) and serialised with to_aws_json(). Plain value type.
struct EventRecord {
  std::string event_name;  // normalised: "ObjectCreated:Put", never with the "s3:" prefix
  std::string event_source = "aws:s3";
  std::string aws_region;
  std::string event_time;  // ISO 8601 as sent; producers use format_event_time()
  std::string bucket;
  std::string key;  // DECODED (the wire form is form-URL-encoded)
  std::uint64_t size = 0;
  std::string etag;  // without quotes
  std::string version_id;
  std::string sequencer;
  std::string principal;         // userIdentity.principalId
  std::string source_ip;         // requestParameters.sourceIPAddress
  std::string request_id;        // responseElements.x-amz-request-id
  std::string host_id;           // responseElements.x-amz-id-2
  std::string configuration_id;  // s3.configurationId: the notification rule that fired

  EventKind kind() const { return classify(event_name); }
  bool operator==(const EventRecord&) const = default;
};

// "2024-03-01T12:34:56.789Z": the eventTime form AWS uses (UTC, milliseconds).
std::string format_event_time(core::Clock::TimePoint time);

}  // namespace imgflow::events
