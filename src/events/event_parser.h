#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "events/event_record.h"

namespace imgflow::events {

inline constexpr std::size_t kMaxEventBytes = 1 << 20;  // AWS caps a notification far below this
inline constexpr std::size_t kMaxEventRecords = 1000;   // AWS sends one record per event
inline constexpr int kMaxJsonDepth = 32;                // real events nest 4 deep

// Parses an S3 event notification body (untrusted bytes) into typed records. Accepted shapes:
//   - AWS S3 notification: {"Records":[...]}, eventName "ObjectCreated:Put", keys form-URL-encoded;
//   - AWS "s3:TestEvent" ({"Service":"Amazon S3","Event":"s3:TestEvent",...}): returns an EMPTY
//     vector, since it names no object (a record whose eventName is TestEvent instead parses to a
//     record of kind kTest);
//   - MinIO webhook: {"EventName":"s3:ObjectCreated:Put","Key":"bucket/key","Records":[...]}, names
//     with the "s3:" prefix, '/' in keys as %2F;
//   - Ceph RGW: Records with "eventName" with or without "s3:", "opaqueData", "size" possibly a
//     decimal string;
//   - EventBridge "Object Created" / "Object Deleted" events from source "aws.s3" (key decoded the
//     same way; event names mapped to ObjectCreated:Put/Post/Copy/CompleteMultipartUpload and
//     ObjectRemoved:Delete/DeleteMarkerCreated).
// Event names are normalised without "s3:"; keys are returned decoded. Errors: kTooLarge over
// kMaxEventBytes, kMaxEventRecords or kMaxJsonDepth; kCorrupt when the bytes are not JSON;
// kInvalidArgument for a missing field, a wrong type, bad percent-encoding or a key that is not
// UTF-8 (the message names the field, e.g. "Records[0].s3.object.key"); kUnsupported for an
// EventBridge event that is not about an object. Pure; thread-safe.
core::Result<std::vector<EventRecord>> parse_event(std::string_view json);

}  // namespace imgflow::events
