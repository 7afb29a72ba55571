#include "gateway/policy.h"

#include <algorithm>
#include <cstdio>

#include "core/image_types.h"
#include "storage/object_store.h"

namespace imgflow::gateway {
namespace {

bool is_read(Operation op) { return op == Operation::kGetObject || op == Operation::kHeadObject; }

bool is_write(Operation op) {
  switch (op) {
    case Operation::kPutObject:
    case Operation::kCreateMultipartUpload:
    case Operation::kUploadPart:
    case Operation::kCompleteMultipartUpload:
    case Operation::kAbortMultipartUpload:
    case Operation::kListParts:
      return true;
    default:
      return false;
  }
}

// What an anonymous uploader may call: one object at a time, written whole or in parts.
bool is_anonymous_upload(Operation op) {
  switch (op) {
    case Operation::kPutObject:
    case Operation::kPostObject:
    case Operation::kCreateMultipartUpload:
    case Operation::kUploadPart:
    case Operation::kCompleteMultipartUpload:
    case Operation::kAbortMultipartUpload:
      return true;
    default:
      return false;
  }
}

std::string shown(std::string_view text) { return std::string(text.substr(0, 100)); }

// "0x0A" for a C0 byte or DEL, "U+0085" for a C1 control in UTF-8; nullopt when `key` has none.
// `at` is the byte offset of the first.
std::optional<std::string> first_control_character(std::string_view key, std::size_t& at) {
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto byte = static_cast<unsigned char>(key[i]);
    char name[8];
    if (byte < 0x20 || byte == 0x7f) {
      std::snprintf(name, sizeof name, "0x%02X", byte);
    } else if (byte == 0xc2 && i + 1 < key.size() &&
               static_cast<unsigned char>(key[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(key[i + 1]) <= 0x9f) {
      std::snprintf(name, sizeof name, "U+%04X", static_cast<unsigned char>(key[i + 1]));
    } else {
      continue;
    }
    at = i;
    return std::string(name);
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Principal principal) {
  switch (principal) {
    case Principal::kAnonymous:
      return "anonymous";
    case Principal::kFunction:
      return "function";
    case Principal::kAdmin:
      return "admin";
  }
  return "anonymous";
}

Principal principal_from(std::string_view name) {
  if (name == "admin") return Principal::kAdmin;
  if (name == "function") return Principal::kFunction;
  return Principal::kAnonymous;
}

bool is_allowed(Principal principal, Operation op, std::string_view bucket,
                const BucketRoles& roles, const AnonymousUploads& anonymous) {
  if (op == Operation::kOperational) return true;
  switch (principal) {
    case Principal::kAdmin:
      return true;
    case Principal::kFunction:
      if (bucket == roles.source) {
        return is_read(op) || (roles.scanning && op == Operation::kDeleteObject);
      }
      // Write-only: what is quarantined is nobody's business but the admin's.
      if (!roles.quarantine.empty() && bucket == roles.quarantine) {
        return op == Operation::kPutObject;
      }
      // Delete too: an ObjectRemoved event makes the handler remove the variants it wrote.
      if (bucket == roles.destination) {
        return is_read(op) || is_write(op) || op == Operation::kDeleteObject;
      }
      return false;
    case Principal::kAnonymous:
      return anonymous.enabled && bucket == roles.source && is_anonymous_upload(op);
  }
  return false;
}

core::Result<PublicRead> parse_public_read(std::string_view text) {
  const std::size_t slash = text.find('/');
  PublicRead out{std::string(text.substr(0, slash)),
                 slash == std::string_view::npos ? "" : std::string(text.substr(slash + 1))};
  if (!storage::validate_bucket_name(out.bucket)) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "--public-read takes BUCKET or BUCKET/PREFIX, e.g. processed or "
                      "processed/photos/, not '" +
                          std::string(text.substr(0, 100)) + "'");
  }
  return out;
}

bool is_public_read(Operation op, std::string_view bucket, std::string_view key,
                    const PublicRead& public_read) {
  return !public_read.bucket.empty() && is_read(op) && bucket == public_read.bucket &&
         key.starts_with(public_read.prefix);
}

std::string denial_message(Principal principal, Operation op, std::string_view bucket,
                           const BucketRoles& roles, const AnonymousUploads& anonymous) {
  if (principal == Principal::kAnonymous && !anonymous.enabled && bucket == roles.source &&
      is_anonymous_upload(op)) {
    return "Anonymous uploads are turned off on this server: upload with a presigned URL or a "
           "signed POST policy";
  }
  return "Access Denied";
}

bool may_replace_objects(Principal principal, const AnonymousUploads& anonymous) {
  return principal != Principal::kAnonymous || anonymous.may_overwrite;
}

bool may_delete_bucket(std::string_view bucket, const BucketRoles& roles) {
  return bucket != roles.source && bucket != roles.destination;
}

bool may_write_reserved_metadata(Principal principal) { return principal != Principal::kAnonymous; }

std::optional<S3Error> check_metadata(Principal principal,
                                      const std::map<std::string, std::string>& metadata) {
  if (may_write_reserved_metadata(principal)) return std::nullopt;
  for (const auto& [name, value] : metadata) {
    if (name.starts_with(kReservedMetadataPrefix)) {
      return s3_error("AccessDenied",
                      "x-amz-meta-" + std::string(kReservedMetadataPrefix) +
                          "* is reserved for imgflow's own outputs: rename x-amz-meta-" +
                          shown(name));
    }
  }
  return std::nullopt;
}

std::size_t max_anonymous_key_bytes(std::string_view destination_prefix) {
  const std::size_t prefix = destination_prefix.empty() ? 0 : destination_prefix.size() + 1;
  const std::size_t reserved = prefix + kOutputFileReserve;
  return reserved < storage::kMaxKeyBytes ? storage::kMaxKeyBytes - reserved : 0;
}

std::optional<S3Error> check_anonymous_key(std::string_view key, const BucketRoles& roles) {
  const std::size_t limit = max_anonymous_key_bytes(roles.destination_prefix);
  if (key.size() > limit) {
    return s3_error("KeyTooLongError",
                    "Your key is too long: anonymous upload keys may be at most " +
                        std::to_string(limit) + " bytes (this one has " +
                        std::to_string(key.size()) +
                        "), so that every output named after it fits in 1,024 bytes");
  }
  std::size_t at = 0;
  if (auto control = first_control_character(key, at)) {
    return s3_error("InvalidArgument",
                    "Anonymous upload keys may not contain NUL, CR, LF or other control "
                    "characters: control character " +
                        *control + " at byte " + std::to_string(at));
  }
  return std::nullopt;
}

bool is_anonymous_upload_type(const MediaType& type) {
  if (type.type == "image") return core::find_image_media_type(type.subtype).has_value();
  return (type.type == "application" || type.type == "binary") && type.subtype == "octet-stream";
}

std::optional<S3Error> check_anonymous_content_type(std::string_view content_type) {
  const auto type = parse_media_type(content_type);
  if (!type) {
    return s3_error("InvalidArgument", "Content-Type '" + shown(content_type) +
                                           "' is not one media type (type/subtype, then "
                                           "optional ;name=value parameters)");
  }
  if (!is_anonymous_upload_type(*type)) {
    return s3_error("AccessDenied",
                    "Anonymous uploads must be images imgflow processes (JPEG, PNG, WebP, GIF, "
                    "TIFF, HEIF/HEIC, AVIF); Content-Type '" +
                        shown(content_type) + "' is not one");
  }
  return std::nullopt;
}

}  // namespace imgflow::gateway
