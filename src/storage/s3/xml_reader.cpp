#include "storage/s3/xml_reader.h"

#include <charconv>
#include <utility>

namespace imgflow::storage::s3 {
namespace {

using core::ErrorCode;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A recursive-descent reader over the whole text. Depth is capped, so recursion is bounded.
class Parser {
 public:
  Parser(std::string_view text, const XmlLimits& limits) : s_(text), limits_(limits) {}

  core::Result<XmlElement> document() {
    skip_misc(true);
    if (failed_) return core::fail(std::move(error_));
    XmlElement root;
    if (!element(root, 1)) return core::fail(std::move(error_));
    skip_misc(false);
    if (failed_) return core::fail(std::move(error_));
    if (pos_ != s_.size()) return fail_at("content after the root element");
    return root;
  }

 private:
  tl::unexpected<core::Error> fail_at(std::string_view what) {
    return core::fail(ErrorCode::kCorrupt,
                      "malformed XML at byte " + std::to_string(pos_) + ": " + std::string(what));
  }
  bool set_error(ErrorCode code, std::string_view what) {
    if (!failed_) {
      failed_ = true;
      error_ = {code, "malformed XML at byte " + std::to_string(pos_) + ": " + std::string(what)};
      if (code == ErrorCode::kTooLarge) error_.message = std::string(what);
    }
    return false;
  }
  bool starts(std::string_view t) const { return s_.substr(pos_).starts_with(t); }

  // Whitespace, comments and (before the root) the XML declaration.
  void skip_misc(bool prolog) {
    for (;;) {
      while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
      if (starts("<!--")) {
        const auto end = s_.find("-->", pos_ + 4);
        if (end == std::string_view::npos)
          return void(set_error(ErrorCode::kCorrupt, "open comment"));
        pos_ = end + 3;
      } else if (prolog && starts("<?xml")) {
        const auto end = s_.find("?>", pos_);
        if (end == std::string_view::npos)
          return void(set_error(ErrorCode::kCorrupt, "open declaration"));
        pos_ = end + 2;
      } else if (starts("<!") || starts("<?")) {
        return void(
            set_error(ErrorCode::kCorrupt, "DOCTYPE and processing instructions are refused"));
      } else {
        return;
      }
    }
  }

  bool name(std::string& out) {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
    if (pos_ == start) return set_error(ErrorCode::kCorrupt, "expected a name");
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  // Skips attributes up to '>' or "/>"; sets `empty` for the latter.
  bool skip_attributes(bool& empty) {
    char quote = 0;
    for (; pos_ < s_.size(); ++pos_) {
      const char c = s_[pos_];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        ++pos_;
        return true;
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '>') {
        pos_ += 2;
        empty = true;
        return true;
      } else if (c == '<') {
        break;
      }
    }
    return set_error(ErrorCode::kCorrupt, "unterminated start tag");
  }

  bool entity(std::string& out) {
    const auto end = s_.find(';', pos_);
    if (end == std::string_view::npos || end - pos_ > 10) {
      return set_error(ErrorCode::kCorrupt, "bad entity reference");
    }
    const std::string_view ref = s_.substr(pos_ + 1, end - pos_ - 1);
    if (ref == "amp")
      out += '&';
    else if (ref == "lt")
      out += '<';
    else if (ref == "gt")
      out += '>';
    else if (ref == "quot")
      out += '"';
    else if (ref == "apos")
      out += '\'';
    else if (ref.starts_with('#')) {
      const bool hex = ref.size() > 1 && (ref[1] == 'x' || ref[1] == 'X');
      const std::string_view digits = ref.substr(hex ? 2 : 1);
      std::uint32_t cp = 0;
      const auto [p, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || cp == 0 ||
          cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return set_error(ErrorCode::kCorrupt, "bad character reference");
      }
      append_utf8(out, cp);
    } else {
      return set_error(ErrorCode::kCorrupt, "unknown entity");
    }
    pos_ = end + 1;
    return true;
  }

  bool element(XmlElement& e, int depth) {
    if (depth > limits_.max_depth) return set_error(ErrorCode::kTooLarge, "XML nests too deep");
    if (++elements_ > limits_.max_elements) {
      return set_error(ErrorCode::kTooLarge, "XML has too many elements");
    }
    if (!starts("<")) return set_error(ErrorCode::kCorrupt, "expected '<'");
    ++pos_;
    if (!name(e.name)) return false;
    bool empty = false;
    if (!skip_attributes(empty)) return false;
    if (empty) return true;
    return content(e, depth);
  }

  bool content(XmlElement& e, int depth) {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '&') {
        if (!entity(e.text)) return false;
      } else if (c != '<') {
        e.text += c;
        ++pos_;
      } else if (starts("</")) {
        pos_ += 2;
        std::string closing;
        if (!name(closing)) return false;
        while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
        if (closing != e.name || !starts(">")) {
          return set_error(ErrorCode::kCorrupt, "mismatched end tag </" + closing + ">");
        }
        ++pos_;
        return true;
      } else if (starts("<![CDATA[")) {
        const auto end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) return set_error(ErrorCode::kCorrupt, "open CDATA");
        e.text.append(s_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (starts("<!--")) {
        const auto end = s_.find("-->", pos_ + 4);
        if (end == std::string_view::npos) return set_error(ErrorCode::kCorrupt, "open comment");
        pos_ = end + 3;
      } else {
        e.children.emplace_back();
        if (!element(e.children.back(), depth + 1)) return false;
      }
    }
    return set_error(ErrorCode::kCorrupt, "unterminated element <" + e.name + ">");
  }

  std::string_view s_;
  XmlLimits limits_;
  std::size_t pos_ = 0;
  std::size_t elements_ = 0;
  bool failed_ = false;
  core::Error error_;
};

}  // namespace

const XmlElement* XmlElement::child(std::string_view child_name) const {
  for (const auto& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::string XmlElement::child_text(std::string_view child_name) const {
  const XmlElement* c = child(child_name);
  return c != nullptr ? c->text : std::string();
}

std::vector<const XmlElement*> XmlElement::all(std::string_view child_name) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children) {
    if (c.name == child_name) out.push_back(&c);
  }
  return out;
}

core::Result<XmlElement> parse_xml(std::string_view text, const XmlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return core::fail(ErrorCode::kTooLarge, "XML body of " + std::to_string(text.size()) +
                                                " bytes is over the " +
                                                std::to_string(limits.max_bytes) + "-byte limit");
  }
  return Parser(text, limits).document();
}

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
        out += c;
    }
  }
  return out;
}

}  // namespace imgflow::storage::s3
