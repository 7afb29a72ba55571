#include "gateway/xml.h"

#include <charconv>
#include <optional>
#include <utility>

namespace imgflow::gateway {
namespace {

// At most 1,000 keys per DeleteObjects request, as S3.
constexpr std::size_t kMaxDeleteKeys = 1000;

// S3 request documents are three levels deep. The element cap leaves room for the largest legal
// body: 10,000 parts with PartNumber, ETag and a checksum or two each.
constexpr core::XmlLimits kRequestLimits{
    .max_bytes = kMaxXmlBodyBytes, .max_elements = 60'000, .max_depth = 8};

// The handler reports any of these as MalformedXML; the message says what was wrong.
core::Error malformed(std::string why) {
  return core::Error{core::ErrorCode::kInvalidArgument, std::move(why)};
}

// "s3:Part" → "Part": a client may bind the S3 namespace to a prefix, and the namespace is not
// checked, so elements match on their local name.
std::string_view local_name(std::string_view name) {
  const std::size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

const core::XmlElement* child_named(const core::XmlElement& parent, std::string_view name) {
  for (const auto& c : parent.children) {
    if (local_name(c.name) == name) return &c;
  }
  return nullptr;
}

// Parses a request body and checks that its root element is <root>.
core::Result<core::XmlElement> parse_request(std::string_view xml, std::string_view root) {
  auto doc = core::parse_xml(xml, kRequestLimits);
  if (!doc) return core::fail(malformed(std::move(doc.error().message)));
  if (local_name(doc->name) != root) {
    return core::fail(malformed("the root element must be <" + std::string(root) + ">"));
  }
  return doc;
}

// The whole text as a decimal int: no sign other than '-', no whitespace, no overflow.
std::optional<int> to_int(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// One <Part>; `ordinal` (from 1) names it in messages.
core::Result<storage::CompletedPart> completed_part(const core::XmlElement& part,
                                                    std::size_t ordinal) {
  const std::string which = "Part " + std::to_string(ordinal);
  const core::XmlElement* number = child_named(part, "PartNumber");
  if (number == nullptr) return core::fail(malformed(which + " has no PartNumber"));
  const core::XmlElement* etag = child_named(part, "ETag");
  if (etag == nullptr) return core::fail(malformed(which + " has no ETag"));
  const auto n = to_int(number->text);
  if (!n) return core::fail(malformed(which + " has a PartNumber that is not an integer"));
  return storage::CompletedPart{*n, etag->text};
}

}  // namespace

core::Result<std::vector<storage::CompletedPart>> parse_complete_multipart(std::string_view xml) {
  auto doc = parse_request(xml, "CompleteMultipartUpload");
  if (!doc) return core::fail(std::move(doc.error()));
  std::vector<storage::CompletedPart> parts;
  for (const auto& child : doc->children) {
    if (local_name(child.name) != "Part") continue;  // S3 ignores what it does not know
    auto part = completed_part(child, parts.size() + 1);
    if (!part) return core::fail(std::move(part.error()));
    parts.push_back(std::move(*part));
  }
  if (parts.empty()) return core::fail(malformed("CompleteMultipartUpload lists no Part"));
  return parts;
}

core::Result<DeleteRequest> parse_delete_objects(std::string_view xml) {
  auto doc = parse_request(xml, "Delete");
  if (!doc) return core::fail(std::move(doc.error()));
  DeleteRequest request;
  for (const auto& child : doc->children) {
    const std::string_view name = local_name(child.name);
    if (name == "Quiet") {
      request.quiet = child.text == "true";
    } else if (name == "Object") {
      if (request.keys.size() == kMaxDeleteKeys) {
        return core::fail(malformed("Delete names more than 1000 objects"));
      }
      const core::XmlElement* key = child_named(child, "Key");
      if (key == nullptr) {
        return core::fail(
            malformed("Object " + std::to_string(request.keys.size() + 1) + " has no Key"));
      }
      request.keys.push_back(key->text);
    }
  }
  if (request.keys.empty()) return core::fail(malformed("Delete names no Object"));
  return request;
}

}  // namespace imgflow::gateway
