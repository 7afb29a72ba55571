#pragma once

#include <string>
#include <vector>

#include "events/event_record.h"

namespace imgflow::events {

// Serialises records as the AWS S3 event notification JSON ({"Records":[...]}, eventVersion
// "2.1", s3SchemaVersion "1.0", bucket ARN "arn:aws:s3:::<bucket>", key form-URL-encoded), the
// contract between the gateway and the handler. Fields are written as the records hold them:
// event_time verbatim (fill it with format_event_time()), event_name without "s3:"; versionId
// only when set; size and eTag omitted for ObjectRemoved records, as AWS does. parse_event()
// of the result gives the records back. Pure; thread-safe.
std::string to_aws_json(const std::vector<EventRecord>& records);

}  // namespace imgflow::events
