#include "core/xml.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>

namespace imgflow::core {
namespace {

// The longest reference we decode, '&' and ';' included: "&#x10FFFF;" or "&#1114111;". Anything
// longer is refused rather than searched for its ';'.
constexpr std::size_t kMaxReferenceLength = 11;

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

std::optional<char> predefined_entity(std::string_view name) {
  if (name == "amp") return '&';
  if (name == "lt") return '<';
  if (name == "gt") return '>';
  if (name == "quot") return '"';
  if (name == "apos") return '\'';
  return std::nullopt;
}

// "#233" or "#x1F600" → the code point. XML spells hex with a lowercase 'x' only. NUL and the
// UTF-16 surrogates are refused: they have no UTF-8 form a key or an ETag could carry.
std::optional<std::uint32_t> character_reference(std::string_view ref) {
  ref.remove_prefix(1);  // '#'
  const bool hex = ref.starts_with('x');
  if (hex) ref.remove_prefix(1);
  std::uint32_t cp = 0;
  const auto [end, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), cp, hex ? 16 : 10);
  if (ref.empty() || ec != std::errc() || end != ref.data() + ref.size()) return std::nullopt;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  return cp;
}

// A recursive-descent reader over the whole text. Depth is capped by the limits, so recursion is
// bounded. Each step returns false once an error is recorded; the first error wins.
class Parser {
 public:
  Parser(std::string_view text, const XmlLimits& limits) : s_(text), limits_(limits) {}

  Result<XmlElement> document() {
    XmlElement root;
    if (prolog() && element(root, 1) && misc()) {
      if (pos_ == s_.size()) return root;
      corrupt("content after the root element");
    }
    return fail(std::move(*error_));
  }

 private:
  bool corrupt(std::string_view what) {
    return record({ErrorCode::kCorrupt,
                   "malformed XML at byte " + std::to_string(pos_) + ": " + std::string(what)});
  }
  bool too_large(std::string what) { return record({ErrorCode::kTooLarge, std::move(what)}); }
  bool record(Error error) {
    if (!error_) error_ = std::move(error);
    return false;
  }

  bool starts(std::string_view t) const { return s_.substr(pos_).starts_with(t); }
  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }

  // Leading whitespace, the declaration (only as the first markup: anywhere else it is a
  // processing instruction), then whitespace and comments.
  bool prolog() {
    skip_space();
    if (starts("<?xml") && pos_ + 5 < s_.size() && is_space(s_[pos_ + 5])) {
      const auto end = s_.find("?>", pos_);
      if (end == std::string_view::npos) return corrupt("unterminated XML declaration");
      pos_ = end + 2;
    }
    return misc();
  }

  // Whitespace and comments, before or after the root element.
  bool misc() {
    for (;;) {
      skip_space();
      if (starts("<!--")) {
        if (!comment()) return false;
      } else if (starts("<!") || starts("<?")) {
        return refuse_markup();
      } else {
        return true;
      }
    }
  }

  bool comment() {
    const auto end = s_.find("-->", pos_ + 4);  // past "<!--", so "<!-->" does not close itself
    if (end == std::string_view::npos) return corrupt("unterminated comment");
    pos_ = end + 3;
    return true;
  }

  // "<!..." other than a comment, or "<?...": nothing a S3 body needs, and DOCTYPE is how entity
  // expansion attacks start.
  bool refuse_markup() {
    if (starts("<![CDATA[")) return corrupt("CDATA sections are refused");
    if (starts("<?")) return corrupt("processing instructions are refused");
    return corrupt("DOCTYPE and other declarations are refused");
  }

  bool name(std::string& out) {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
    if (pos_ == start) return corrupt("expected an element name");
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  // Skips attributes up to '>' or "/>" (quotes respected); sets `empty` for the latter. '<' is
  // never allowed in a start tag, not even inside an attribute value.
  bool skip_attributes(bool& empty) {
    char quote = 0;
    for (; pos_ < s_.size(); ++pos_) {
      const char c = s_[pos_];
      if (c == '<') break;
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
      }
    }
    return corrupt("unterminated start tag");
  }

  bool entity(std::string& out) {
    const auto end = s_.substr(pos_, kMaxReferenceLength).find(';');
    if (end == std::string_view::npos) return corrupt("'&' without a reference after it");
    const std::string_view ref = s_.substr(pos_ + 1, end - 1);
    if (ref.starts_with('#')) {
      const auto cp = character_reference(ref);
      if (!cp) return corrupt("bad character reference");
      append_utf8(out, *cp);
    } else if (const auto c = predefined_entity(ref)) {
      out += *c;
    } else {
      return corrupt("unknown entity (only amp, lt, gt, quot and apos exist)");
    }
    pos_ += end + 1;
    return true;
  }

  bool element(XmlElement& e, int depth) {
    if (depth > limits_.max_depth) {
      return too_large("XML nests deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    if (++elements_ > limits_.max_elements) {
      return too_large("XML has more than " + std::to_string(limits_.max_elements) + " elements");
    }
    if (!starts("<")) return corrupt("expected an element");
    ++pos_;
    bool empty = false;
    if (!name(e.name) || !skip_attributes(empty)) return false;
    return empty || content(e, depth);
  }

  bool content(XmlElement& e, int depth) {
    while (pos_ < s_.size()) {
      if (s_[pos_] == '&') {
        if (!entity(e.text)) return false;
      } else if (s_[pos_] != '<') {
        const std::size_t end = std::min(s_.find_first_of("<&", pos_), s_.size());
        e.text.append(s_.substr(pos_, end - pos_));
        pos_ = end;
      } else if (starts("</")) {
        return end_tag(e);
      } else if (starts("<!--")) {
        if (!comment()) return false;
      } else if (starts("<!") || starts("<?")) {
        return refuse_markup();
      } else {
        e.children.emplace_back();
        if (!element(e.children.back(), depth + 1)) return false;
      }
    }
    return corrupt("unterminated element <" + e.name + ">");
  }

  // "</name>" with optional whitespace before '>'; the name must match exactly, prefix included.
  bool end_tag(const XmlElement& e) {
    pos_ += 2;
    std::string closing;
    if (!name(closing)) return false;
    skip_space();
    if (closing != e.name || !starts(">")) {
      return corrupt("end tag </" + closing + "> does not close <" + e.name + ">");
    }
    ++pos_;
    return true;
  }

  std::string_view s_;
  XmlLimits limits_;
  std::size_t pos_ = 0;
  std::size_t elements_ = 0;
  std::optional<Error> error_;
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

Result<XmlElement> parse_xml(std::string_view text, const XmlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return fail(ErrorCode::kTooLarge, "XML body of " + std::to_string(text.size()) +
                                          " bytes is over the " + std::to_string(limits.max_bytes) +
                                          "-byte limit");
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

void XmlWriter::open(std::string_view name, std::string_view xmlns) {
  out_ += '<';
  out_ += name;
  if (!xmlns.empty()) {
    out_ += " xmlns=\"";
    out_ += xml_escape(xmlns);
    out_ += '"';
  }
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

}  // namespace imgflow::core
