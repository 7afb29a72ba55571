#include "gateway/xml.h"

#include <charconv>
#include <cstdio>
#include <memory>

namespace imgflow::gateway {
namespace {

constexpr int kMaxDepth = 8;               // S3 request documents are three levels deep
constexpr std::size_t kMaxNodes = 20'000;  // 1,000 objects or 10,000 parts with a few fields

// The handler reports any of these as MalformedXML; the message says what was wrong.
core::Error malformed(std::string_view why) {
  return core::Error{core::ErrorCode::kInvalidArgument, std::string(why)};
}

// A parsed element: local name (namespace prefix dropped), text and children.
struct Node {
  std::string name;
  std::string text;
  std::vector<std::unique_ptr<Node>> children;

  const Node* child(std::string_view child_name) const {
    for (const auto& c : children) {
      if (c->name == child_name) return c.get();
    }
    return nullptr;
  }
};

bool append_char_ref(std::string_view ref, std::string& out) {
  unsigned value = 0;
  const int base = ref.starts_with("x") ? 16 : 10;
  if (base == 16) ref.remove_prefix(1);
  auto [end, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), value, base);
  if (ec != std::errc() || end != ref.data() + ref.size() || value > 0x10FFFF) return false;
  // UTF-8 encode the code point.
  if (value < 0x80) {
    out += static_cast<char>(value);
  } else if (value < 0x800) {
    out += static_cast<char>(0xC0 | (value >> 6));
    out += static_cast<char>(0x80 | (value & 0x3F));
  } else if (value < 0x10000) {
    out += static_cast<char>(0xE0 | (value >> 12));
    out += static_cast<char>(0x80 | ((value >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (value & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (value >> 18));
    out += static_cast<char>(0x80 | ((value >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((value >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (value & 0x3F));
  }
  return true;
}

// Decodes the five predefined entities and character references; nothing else exists here.
bool decode_text(std::string_view text, std::string& out) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    const std::size_t semi = text.find(';', i);
    if (semi == std::string_view::npos) return false;
    const std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "lt") {
      out += '<';
    } else if (entity == "gt")
      out += '>';
    else if (entity == "amp")
      out += '&';
    else if (entity == "quot")
      out += '"';
    else if (entity == "apos")
      out += '\'';
    else if (entity.starts_with("#")) {
      if (!append_char_ref(entity.substr(1), out)) return false;
    } else {
      return false;
    }
    i = semi;
  }
  return true;
}

std::string local_name(std::string_view tag) {
  const std::size_t end = tag.find_first_of(" \t\r\n/");
  std::string_view name = tag.substr(0, end);
  if (const std::size_t colon = name.find(':'); colon != std::string_view::npos) {
    name.remove_prefix(colon + 1);
  }
  return std::string(name);
}

// A deliberately small parser for the flat documents S3 requests carry: elements, text,
// the declaration and comments. DOCTYPE, CDATA and entities other than the predefined ones are
// refused, which rules out entity-expansion attacks by construction.
core::Result<std::unique_ptr<Node>> parse(std::string_view xml) {
  if (xml.size() > kMaxXmlBodyBytes) return core::fail(malformed("document too large"));
  auto root = std::make_unique<Node>();
  std::vector<Node*> stack{root.get()};
  std::size_t nodes = 0;
  std::size_t pos = 0;
  while (pos < xml.size()) {
    const std::size_t lt = xml.find('<', pos);
    const std::string_view text =
        xml.substr(pos, lt == std::string_view::npos ? xml.npos : lt - pos);
    if (stack.size() > 1) {
      if (!decode_text(text, stack.back()->text)) return core::fail(malformed("bad entity"));
    } else if (text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
      return core::fail(malformed("text outside the root element"));
    }
    if (lt == std::string_view::npos) break;
    if (xml.substr(lt).starts_with("<?")) {
      const std::size_t end = xml.find("?>", lt);
      if (end == std::string_view::npos) return core::fail(malformed("unterminated declaration"));
      pos = end + 2;
      continue;
    }
    if (xml.substr(lt).starts_with("<!--")) {
      const std::size_t end = xml.find("-->", lt);
      if (end == std::string_view::npos) return core::fail(malformed("unterminated comment"));
      pos = end + 3;
      continue;
    }
    if (xml.substr(lt).starts_with("<!")) return core::fail(malformed("DOCTYPE or CDATA"));
    const std::size_t gt = xml.find('>', lt);
    if (gt == std::string_view::npos) return core::fail(malformed("unterminated tag"));
    std::string_view tag = xml.substr(lt + 1, gt - lt - 1);
    pos = gt + 1;
    if (tag.starts_with("/")) {
      if (stack.size() <= 1 || stack.back()->name != local_name(tag.substr(1))) {
        return core::fail(malformed("mismatched closing tag"));
      }
      stack.pop_back();
      continue;
    }
    const bool self_closing = tag.ends_with("/");
    if (self_closing) tag.remove_suffix(1);
    auto node = std::make_unique<Node>();
    node->name = local_name(tag);
    if (node->name.empty()) return core::fail(malformed("empty tag name"));
    if (++nodes > kMaxNodes) return core::fail(malformed("too many elements"));
    if (stack.size() == 1 && !root->children.empty()) {
      return core::fail(malformed("several root elements"));
    }
    Node* raw = node.get();
    stack.back()->children.push_back(std::move(node));
    if (!self_closing) {
      if (static_cast<int>(stack.size()) > kMaxDepth) return core::fail(malformed("too deep"));
      stack.push_back(raw);
    }
  }
  if (stack.size() != 1 || root->children.size() != 1) {
    return core::fail(malformed("unbalanced document"));
  }
  return root;
}

std::optional<int> to_int(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          char buf[8];
          std::snprintf(buf, sizeof buf, "&#x%X;", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

XmlWriter::XmlWriter() : out_("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") {}

void XmlWriter::open(std::string_view name, bool s3_namespace) {
  out_ += '<';
  out_ += name;
  if (s3_namespace) out_ += " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
  out_ += '>';
}

void XmlWriter::close(std::string_view name) {
  out_ += "</";
  out_ += name;
  out_ += '>';
}

void XmlWriter::element(std::string_view name, std::string_view text) {
  open(name);
  out_ += xml_escape(text);
  close(name);
}

core::Result<std::vector<storage::CompletedPart>> parse_complete_multipart(std::string_view xml) {
  auto root = parse(xml);
  if (!root) return core::fail(root.error());
  const Node& doc = *(*root)->children.front();
  if (doc.name != "CompleteMultipartUpload") return core::fail(malformed("unexpected root"));
  std::vector<storage::CompletedPart> parts;
  for (const auto& part : doc.children) {
    if (part->name != "Part") continue;
    const Node* number = part->child("PartNumber");
    const Node* etag = part->child("ETag");
    if (number == nullptr || etag == nullptr) return core::fail(malformed("Part without fields"));
    const auto n = to_int(number->text);
    if (!n) return core::fail(malformed("bad PartNumber"));
    parts.push_back({*n, etag->text});
  }
  if (parts.empty()) return core::fail(malformed("no parts"));
  return parts;
}

core::Result<DeleteRequest> parse_delete_objects(std::string_view xml) {
  auto root = parse(xml);
  if (!root) return core::fail(root.error());
  const Node& doc = *(*root)->children.front();
  if (doc.name != "Delete") return core::fail(malformed("unexpected root"));
  DeleteRequest request;
  for (const auto& child : doc.children) {
    if (child->name == "Quiet") {
      request.quiet = child->text == "true";
    } else if (child->name == "Object") {
      const Node* key = child->child("Key");
      if (key == nullptr) return core::fail(malformed("Object without Key"));
      request.keys.push_back(key->text);
    }
  }
  if (request.keys.empty() || request.keys.size() > 1000) {
    return core::fail(malformed("Delete names 1 to 1000 objects"));
  }
  return request;
}

}  // namespace imgflow::gateway
