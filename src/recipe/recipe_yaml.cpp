// imgflow.yaml -> Recipe. The only place YAML is read: everything past parse_recipe() sees typed
// values. yaml-cpp exceptions are caught in parse_recipe() and nowhere else.
//
// Reading is table-driven: each section has a table of its keys and a reader per key, so an
// unknown key (a typo) is an error that lists the table. The first error wins; later ones are
// usually consequences of it, so reading carries on harmlessly and only the first is reported.

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <sstream>
#include <system_error>
#include <utility>

#include "core/text.h"
#include "recipe/names.h"
#include "recipe/recipe.h"

namespace imgflow::recipe {
namespace {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorCode;
using core::Result;
using internal::Name;

constexpr std::size_t kMaxRecipeBytes = 1U << 20U;         // a recipe is a page of YAML
constexpr std::uintmax_t kMaxWatermarkBytes = 16U << 20U;  // a mark is a logo, never a photo
constexpr std::size_t kMaxVariants = 64;  // each variant costs a resize and an encode per upload
constexpr std::int64_t kMaxDimension = 65'535;  // the largest JPEG; larger boxes are typos
constexpr std::size_t kMaxEchoed = 60;          // longest user text repeated back in a message

// A key and its value inside a mapping, as readers see it.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// User text repeated in a message: shortened, control characters shown as '?'.
std::string clip(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxEchoed)) out += is_control(c) ? '?' : c;
  if (text.size() > kMaxEchoed) out += "...";
  return out;
}

std::string quote(std::string_view text) { return "'" + clip(text) + "'"; }

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

template <typename E>
std::string join_names(std::span<const Name<E>> names) {
  std::string out;
  for (const Name<E>& n : names) out += (out.empty() ? "" : ", ") + std::string(n.text);
  return out;
}

std::string range(std::int64_t min, std::int64_t max) {
  return std::to_string(min) + ".." + std::to_string(max);
}

std::string format_number(double value) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  return ec == std::errc() ? std::string(buf.data(), end) : "?";
}

// Reads a whole file of at most `max_bytes`. kNotFound if absent; special files are refused so a
// recipe cannot point the reader at /dev/zero.
Result<std::string> read_small_file(const fs::path& path, std::uintmax_t max_bytes) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return core::fail(ErrorCode::kPermissionDenied, path.string() + ": " + ec.message());
  }
  if (!fs::exists(status)) {
    return core::fail(ErrorCode::kNotFound, path.string() + ": no such file");
  }
  if (!fs::is_regular_file(status)) {
    return core::fail(ErrorCode::kInvalidArgument, path.string() + ": not a regular file");
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return core::fail(ErrorCode::kInternal, path.string() + ": " + ec.message());
  if (size > max_bytes) {
    return core::fail(ErrorCode::kTooLarge, path.string() + ": " + std::to_string(size) +
                                                " bytes; allowed: up to " +
                                                std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::fail(ErrorCode::kPermissionDenied, path.string() + ": cannot open");
  // Never more than the size checked above, even if the file grows meanwhile.
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.bad()) return core::fail(ErrorCode::kInternal, path.string() + ": read failed");
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

// Turns YAML nodes into typed values, remembering the first error.
class Reader {
 public:
  Reader(std::string file_label, fs::path base_dir)
      : file_label_(std::move(file_label)), base_dir_(std::move(base_dir)) {}

  const fs::path& base_dir() const { return base_dir_; }
  std::optional<Error> take_error() { return std::move(error_); }

  void error(const YAML::Mark& mark, const std::string& what,
             ErrorCode code = ErrorCode::kInvalidArgument) {
    if (!error_) error_ = Error{code, location(mark) + ": " + what};
  }
  // Errors about a value point at it; an empty value has no position of its own, so at its key.
  void error(const Entry& e, const std::string& what,
             ErrorCode code = ErrorCode::kInvalidArgument) {
    error(e.value.IsNull() ? e.key_node.Mark() : e.value.Mark(), what, code);
  }

  std::string location(const YAML::Mark& mark) const {
    // yaml-cpp counts from 0 and has no mark for nodes it made up (an empty document).
    const bool known = !mark.is_null() && mark.line >= 0 && mark.column >= 0;
    return file_label_ + ":" + std::to_string(known ? mark.line + 1 : 1) + ":" +
           std::to_string(known ? mark.column + 1 : 1);
  }

  // Typed scalars. Each leaves `out` unchanged and records an error on a bad value.
  template <typename Int>
  void integer(const Entry& e, std::int64_t min, std::int64_t max, Int& out) {
    if (auto v = read_integer(e, min, max)) out = static_cast<Int>(*v);
  }
  void number(const Entry& e, double min, double max, double& out);
  void boolean(const Entry& e, bool& out);
  void string(const Entry& e, std::size_t max_bytes, std::string& out);
  void byte_size(const Entry& e, std::uint64_t min, std::uint64_t max, std::uint64_t& out);
  void color(const Entry& e, Rgb& out);

  template <typename E>
  void choice(const Entry& e, std::span<const Name<E>> names, E& out) {
    const std::optional<std::string> text = scalar(e, "one of " + join_names(names));
    if (!text) return;
    for (const Name<E>& n : names) {
      if (n.text == *text) {
        out = n.value;
        return;
      }
    }
    error(e, "unknown " + e.key + " " + quote(*text) + "; allowed: " + join_names(names));
  }

  // The scalar's text, or nullopt after recording what was expected instead.
  std::optional<std::string> scalar(const Entry& e, const std::string& expected) {
    if (e.value.IsScalar()) return e.value.Scalar();
    error(e, e.key + ": expected " + expected + ", got " + describe(e.value));
    return std::nullopt;
  }

 private:
  std::optional<std::int64_t> read_integer(const Entry& e, std::int64_t min, std::int64_t max);

  std::string file_label_;
  fs::path base_dir_;
  std::optional<Error> error_;
};

std::optional<std::int64_t> Reader::read_integer(const Entry& e, std::int64_t min,
                                                 std::int64_t max) {
  const std::optional<std::string> text = scalar(e, "an integer");
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && ptr == end && (value < min || value > max))) {
    error(e, e.key + " " + clip(*text) + " out of range; allowed: " + range(min, max));
    return std::nullopt;
  }
  if (ec != std::errc() || ptr != end) {
    error(e,
          e.key + ": expected an integer, got " + quote(*text) + "; allowed: " + range(min, max));
    return std::nullopt;
  }
  return value;
}

void Reader::number(const Entry& e, double min, double max, double& out) {
  const std::optional<std::string> text = scalar(e, "a number");
  if (!text) return;
  double value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  const std::string allowed = "; allowed: " + format_number(min) + ".." + format_number(max);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) {
    error(e, e.key + ": expected a number, got " + quote(*text) + allowed);
  } else if (value < min || value > max) {
    error(e, e.key + " " + clip(*text) + " out of range" + allowed);
  } else {
    out = value;
  }
}

void Reader::boolean(const Entry& e, bool& out) {
  // YAML 1.2 spellings only: `yes`/`no`/`on` are strings there, and a recipe should mean the
  // same to every YAML reader.
  const std::optional<std::string> text = scalar(e, "true or false");
  if (!text) return;
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    out = true;
  } else if (*text == "false" || *text == "False" || *text == "FALSE") {
    out = false;
  } else {
    error(e, e.key + ": expected true or false, got " + quote(*text) + "; allowed: true, false");
  }
}

void Reader::string(const Entry& e, std::size_t max_bytes, std::string& out) {
  const std::optional<std::string> text = scalar(e, "a string");
  if (!text) return;
  const std::string allowed = "; allowed: 1.." + std::to_string(max_bytes) + " bytes of UTF-8";
  if (text->empty()) {
    error(e, e.key + " is empty" + allowed);
  } else if (text->size() > max_bytes) {
    error(e, e.key + " is " + std::to_string(text->size()) + " bytes long" + allowed);
  } else if (!core::is_valid_utf8(*text)) {
    error(e, e.key + " is not valid UTF-8" + allowed);
  } else if (std::any_of(text->begin(), text->end(),
                         [](char c) { return is_control(c) && c != '\n'; })) {
    // A NUL would cut the text short in C APIs; other control characters render as boxes.
    error(e, e.key + " contains a control character" + allowed + " (newlines allowed)");
  } else {
    out = *text;
  }
}

void Reader::byte_size(const Entry& e, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
  struct Unit {
    std::string_view suffix;
    std::uint64_t bytes;
  };
  static constexpr auto kUnits = std::to_array<Unit>({{"", 1},
                                                      {"B", 1},
                                                      {"KB", 1'000},
                                                      {"MB", 1'000'000},
                                                      {"GB", 1'000'000'000},
                                                      {"KiB", 1ULL << 10U},
                                                      {"MiB", 1ULL << 20U},
                                                      {"GiB", 1ULL << 30U}});
  static constexpr std::string_view kAllowed =
      "; allowed: an integer or a number with a unit: B, KB, MB, GB (x1000), KiB, MiB, GiB "
      "(x1024), e.g. 50MiB";
  const std::optional<std::string> text = scalar(e, "a size");
  if (!text) return;
  std::uint64_t count = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, count);
  std::string_view suffix(ptr, static_cast<std::size_t>(end - ptr));
  if (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);  // "50 MiB"
  const auto* unit =
      std::find_if(kUnits.begin(), kUnits.end(), [&](const Unit& u) { return u.suffix == suffix; });
  if (ec == std::errc::invalid_argument || unit == kUnits.end()) {
    error(e, e.key + ": expected a size, got " + quote(*text) + std::string(kAllowed));
  } else if (ec == std::errc::result_out_of_range || count > max / unit->bytes ||
             count * unit->bytes < min) {
    error(e, e.key + " " + clip(*text) + " out of range; allowed: " + std::to_string(min) + ".." +
                 std::to_string(max) + " bytes");
  } else {
    out = count * unit->bytes;
  }
}

void Reader::color(const Entry& e, Rgb& out) {
  static constexpr std::string_view kAllowed = "; allowed: \"#rrggbb\" (quoted), white, black";
  if (e.value.IsNull()) {
    // The usual cause: `background: #ffffff` unquoted, where # starts a YAML comment.
    error(e, e.key +
                 ": expected a colour, got nothing (quote it: an unquoted # starts a YAML "
                 "comment)" +
                 std::string(kAllowed));
    return;
  }
  const std::optional<std::string> text = scalar(e, "a colour");
  if (!text) return;
  if (*text == "white") {
    out = Rgb{255, 255, 255};
    return;
  }
  if (*text == "black") {
    out = Rgb{0, 0, 0};
    return;
  }
  const auto hex = [&](std::size_t at, std::uint8_t& channel) {
    const char* first = text->data() + at;
    const auto [ptr, ec] = std::from_chars(first, first + 2, channel, 16);
    return ec == std::errc() && ptr == first + 2;
  };
  Rgb rgb;
  if (text->size() == 7 && (*text)[0] == '#' && hex(1, rgb.r) && hex(3, rgb.g) && hex(5, rgb.b)) {
    out = rgb;
  } else {
    error(e, "unknown " + e.key + " " + quote(*text) + std::string(kAllowed));
  }
}

// A section's table: each known key and how to read it into T.
template <typename T>
struct Field {
  std::string_view key;
  void (*read)(Reader&, const Entry&, T&);
};

template <typename T>
std::string join_keys(std::span<const Field<T>> fields) {
  std::string out;
  for (const Field<T>& f : fields) out += (out.empty() ? "" : ", ") + std::string(f.key);
  return out;
}

const Entry* find_entry(const std::vector<Entry>& entries, std::string_view key) {
  const auto it =
      std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.key == key; });
  return it == entries.end() ? nullptr : &*it;
}

// Reads a mapping through its table. Unknown and repeated keys are errors; an empty value
// (every key commented out) is an empty mapping. Returns the entries read, for cross-checks.
template <typename T>
std::vector<Entry> read_mapping(Reader& r, const YAML::Node& map, const YAML::Mark& mark,
                                std::span<const Field<T>> fields, const std::string& where,
                                T& out) {
  std::vector<Entry> seen;
  if (map.IsNull()) return seen;
  if (!map.IsMap()) {
    r.error(mark, "expected a mapping of keys " + where + ", got " + describe(map) +
                      "; allowed keys: " + join_keys(fields));
    return seen;
  }
  for (const auto& pair : map) {
    Entry e{"", pair.first, pair.second};
    if (!e.key_node.IsScalar()) {
      r.error(e.key_node.Mark(), "expected a key name " + where + ", got " + describe(e.key_node) +
                                     "; allowed: " + join_keys(fields));
      continue;
    }
    e.key = e.key_node.Scalar();
    if (find_entry(seen, e.key) != nullptr) {
      r.error(e.key_node.Mark(),
              "duplicate key " + quote(e.key) + " " + where + "; allowed: each key once");
      continue;
    }
    const auto field = std::find_if(fields.begin(), fields.end(),
                                    [&](const Field<T>& f) { return f.key == e.key; });
    if (field == fields.end()) {
      r.error(e.key_node.Mark(),
              "unknown key " + quote(e.key) + " " + where + "; allowed: " + join_keys(fields));
      continue;
    }
    field->read(r, e, out);
    seen.push_back(std::move(e));
  }
  return seen;
}

// ---- Section tables. -------------------------------------------------------------------------

bool is_valid_variant_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

void read_variant_name(Reader& r, const Entry& e, Variant& v) {
  const std::optional<std::string> text = r.scalar(e, "a variant name");
  if (!text) return;
  if (is_valid_variant_name(*text)) {
    v.name = *text;
  } else {
    r.error(e, "invalid variant name " + quote(*text) + "; allowed: 1..64 of a-z 0-9 _ -");
  }
}

constexpr auto kVariantFields = std::to_array<Field<Variant>>({
    {"name", read_variant_name},
    {"width",
     [](Reader& r, const Entry& e, Variant& v) { r.integer(e, 0, kMaxDimension, v.resize.width); }},
    {"height", [](Reader& r, const Entry& e,
                  Variant& v) { r.integer(e, 0, kMaxDimension, v.resize.height); }},
    {"fit", [](Reader& r, const Entry& e,
               Variant& v) { r.choice<Fit>(e, internal::kFitNames, v.resize.fit); }},
    {"gravity",
     [](Reader& r, const Entry& e, Variant& v) {
       r.choice<Gravity>(e, internal::kGravityNames, v.resize.gravity);
     }},
    {"upscale", [](Reader& r, const Entry& e, Variant& v) { r.boolean(e, v.resize.upscale); }},
    {"format", [](Reader& r, const Entry& e,
                  Variant& v) { r.choice<Format>(e, internal::kFormatNames, v.encode.format); }},
    {"quality",
     [](Reader& r, const Entry& e, Variant& v) { r.integer(e, 1, 100, v.encode.quality); }},
    {"progressive",
     [](Reader& r, const Entry& e, Variant& v) { r.boolean(e, v.encode.progressive); }},
    {"chroma_subsampling",
     [](Reader& r, const Entry& e, Variant& v) { r.boolean(e, v.encode.chroma_subsampling); }},
    {"png_compression",
     [](Reader& r, const Entry& e, Variant& v) { r.integer(e, 0, 9, v.encode.png_compression); }},
    {"png_palette",
     [](Reader& r, const Entry& e, Variant& v) { r.boolean(e, v.encode.png_palette); }},
    {"lossless", [](Reader& r, const Entry& e, Variant& v) { r.boolean(e, v.encode.lossless); }},
    {"effort", [](Reader& r, const Entry& e, Variant& v) { r.integer(e, 0, 9, v.encode.effort); }},
    {"keep_animation",
     [](Reader& r, const Entry& e, Variant& v) { r.boolean(e, v.encode.keep_animation); }},
    {"watermark", [](Reader& r, const Entry& e, Variant& v) { r.boolean(e, v.watermark); }},
});

void read_watermark_text(Reader& r, const Entry& e, Watermark& w) {
  if (w.kind == Watermark::Kind::kImage) {
    r.error(e.key_node.Mark(), "watermark has both image and text; allowed: one of image, text");
    return;
  }
  r.string(e, 1024, w.text);
  w.kind = Watermark::Kind::kText;
}

void read_watermark_image(Reader& r, const Entry& e, Watermark& w) {
  if (w.kind == Watermark::Kind::kText) {
    r.error(e.key_node.Mark(), "watermark has both text and image; allowed: one of image, text");
    return;
  }
  std::string relative;
  r.string(e, 4096, relative);
  if (relative.empty()) return;
  // Relative to the recipe, not the working directory, so a recipe and its logo move together.
  const fs::path path = (r.base_dir() / fs::path(relative)).lexically_normal();
  Result<std::string> bytes = read_small_file(path, kMaxWatermarkBytes);
  if (!bytes) {
    r.error(e,
            "watermark image " + quote(relative) + ": " + bytes.error().message +
                "; allowed: an image file, relative to the recipe's directory",
            bytes.error().code);
    return;
  }
  w.kind = Watermark::Kind::kImage;
  w.image_path = path;
  w.image_bytes = *std::move(bytes);
}

constexpr auto kWatermarkFields = std::to_array<Field<Watermark>>({
    {"text", read_watermark_text},
    {"image", read_watermark_image},
    {"font", [](Reader& r, const Entry& e, Watermark& w) { r.string(e, 256, w.font); }},
    {"font_size",
     [](Reader& r, const Entry& e, Watermark& w) { r.integer(e, 0, 1000, w.font_size); }},
    {"color", [](Reader& r, const Entry& e, Watermark& w) { r.color(e, w.color); }},
    {"position", [](Reader& r, const Entry& e,
                    Watermark& w) { r.choice<Position>(e, internal::kPositionNames, w.position); }},
    {"margin", [](Reader& r, const Entry& e, Watermark& w) { r.integer(e, 0, 10'000, w.margin); }},
    {"opacity", [](Reader& r, const Entry& e, Watermark& w) { r.number(e, 0.0, 1.0, w.opacity); }},
    {"scale", [](Reader& r, const Entry& e, Watermark& w) { r.number(e, 0.0, 1.0, w.scale); }},
    {"tile", [](Reader& r, const Entry& e, Watermark& w) { r.boolean(e, w.tile); }},
    {"min_width",
     [](Reader& r, const Entry& e, Watermark& w) { r.integer(e, 0, kMaxDimension, w.min_width); }},
});

constexpr auto kLimitsFields = std::to_array<Field<Limits>>({
    {"max_pixels", [](Reader& r, const Entry& e,
                      Limits& l) { r.integer(e, 1, std::int64_t{1} << 40U, l.max_pixels); }},
    {"max_width",
     [](Reader& r, const Entry& e, Limits& l) { r.integer(e, 1, 10'000'000, l.max_width); }},
    {"max_height",
     [](Reader& r, const Entry& e, Limits& l) { r.integer(e, 1, 10'000'000, l.max_height); }},
    {"max_frames",
     [](Reader& r, const Entry& e, Limits& l) { r.integer(e, 1, 100'000, l.max_frames); }},
    {"max_input_bytes", [](Reader& r, const Entry& e,
                           Limits& l) { r.byte_size(e, 1, 1ULL << 40U, l.max_input_bytes); }},
    {"time_limit_ms",
     [](Reader& r, const Entry& e, Limits& l) { r.integer(e, 1, 3'600'000, l.time_limit_ms); }},
    {"max_memory", [](Reader& r, const Entry& e,
                      Limits& l) { r.byte_size(e, 1ULL << 20U, 1ULL << 40U, l.max_memory); }},
});

constexpr auto kMetadataFields = std::to_array<Field<Metadata>>({
    {"keep_copyright",
     [](Reader& r, const Entry& e, Metadata& m) { r.boolean(e, m.keep_copyright); }},
    {"keep_icc", [](Reader& r, const Entry& e, Metadata& m) { r.boolean(e, m.keep_icc); }},
});

constexpr std::string_view kKeyTemplateAllowed =
    "; allowed: {dir}, {file}, {name}, {variant}, {ext}, {hash}, e.g. "
    "\"{dir}/{file}/{variant}.{ext}\"";

// What is wrong with the template's syntax (its braces and placeholder names), or "".
std::string key_template_syntax_problem(std::string_view tpl) {
  static constexpr auto kPlaceholders =
      std::to_array<std::string_view>({"dir", "file", "name", "variant", "ext", "hash"});
  for (std::size_t i = 0; i < tpl.size();) {
    if (is_control(tpl[i])) {
      return "key_template contains a control character; allowed: printable text";
    }
    if (tpl[i] == '}')
      return "key_template has an unmatched '}'" + std::string(kKeyTemplateAllowed);
    if (tpl[i] != '{') {
      ++i;
      continue;
    }
    const std::size_t close = tpl.find('}', i);
    if (close == std::string_view::npos) {
      return "key_template has an unclosed '{'" + std::string(kKeyTemplateAllowed);
    }
    const std::string_view name = tpl.substr(i + 1, close - i - 1);
    if (std::find(kPlaceholders.begin(), kPlaceholders.end(), name) == kPlaceholders.end()) {
      return "unknown placeholder " + quote("{" + std::string(name) + "}") + " in key_template" +
             std::string(kKeyTemplateAllowed);
    }
    i = close + 1;
  }
  return "";
}

// What is wrong with a key template, or "" if nothing. No two outputs may ever share a key: not
// two variants of one source, and not two sources (an upload acknowledged with 200 must neither
// lose its outputs to another nor be refused for its name). So the folder part (up to the last
// '/') is a fixed prefix and then {dir}/{file}, which renders as the source key itself, and the
// file part holds {variant} (one key per variant) and {ext} (an image extension, so that no
// variant is ever named manifest.json), and nothing else of the source's key.
// The fixed prefix before {dir}/{file} ("" or e.g. "thumbs/"): relative, with no "." or ".."
// folder, so that `imgflow process` cannot be made to write outside --out (nor a store key to
// look like a path that climbs).
std::string key_prefix_problem(std::string_view prefix) {
  constexpr std::string_view kWhy =
      ": outputs must stay below the destination (and below imgflow process --out)";
  if (prefix.starts_with('/')) {
    return "key_template may not start with '/'" + std::string(kWhy);
  }
  while (!prefix.empty()) {
    const std::size_t slash = prefix.find('/');
    const std::string_view folder = prefix.substr(0, slash);
    if (folder.empty() || folder == "." || folder == "..") {
      return "key_template's prefix may not hold an empty, '.' or '..' folder" + std::string(kWhy);
    }
    prefix = slash == std::string_view::npos ? "" : prefix.substr(slash + 1);
  }
  return "";
}

std::string key_template_problem(std::string_view tpl) {
  if (std::string problem = key_template_syntax_problem(tpl); !problem.empty()) return problem;
  const std::size_t slash = tpl.rfind('/');
  const std::string_view folder = slash == std::string_view::npos ? "" : tpl.substr(0, slash);
  const std::string_view file = slash == std::string_view::npos ? tpl : tpl.substr(slash + 1);
  const std::size_t dir_at = folder.find("{dir}/{file}");
  const bool folder_is_source = dir_at != std::string_view::npos &&
                                dir_at + std::string_view("{dir}/{file}").size() == folder.size() &&
                                folder.substr(0, dir_at).find('{') == std::string_view::npos &&
                                (dir_at == 0 || folder[dir_at - 1] == '/');
  if (!folder_is_source) {
    return "key_template's folder must end in {dir}/{file} (the source key), after an optional "
           "fixed prefix such as \"thumbs/\": otherwise two uploads such as photo.jpg and "
           "photo.png would write the same outputs; e.g. \"{dir}/{file}/{variant}.{ext}\"";
  }
  if (std::string problem = key_prefix_problem(folder.substr(0, dir_at)); !problem.empty()) {
    return problem;
  }
  for (std::string_view needed : {"{variant}", "{ext}"}) {
    if (file.find(needed) == std::string_view::npos) {
      return "key_template's file name (after the last '/') must contain " + std::string(needed) +
             ": {variant} gives each variant its own key and {ext} keeps them apart from "
             "manifest.json; e.g. \"{dir}/{file}/{variant}.{ext}\"";
    }
  }
  for (std::string_view source_part : {"{dir}", "{file}"}) {
    if (file.find(source_part) != std::string_view::npos) {
      return "key_template's file name (after the last '/') may not contain " +
             std::string(source_part) + "; the source key is already its folder";
    }
  }
  return "";
}

void read_key_template(Reader& r, const Entry& e, Output& o) {
  std::string tpl;
  r.string(e, 1024, tpl);
  if (tpl.empty()) return;
  if (std::string problem = key_template_problem(tpl); !problem.empty()) {
    r.error(e, problem);
  } else {
    o.key_template = std::move(tpl);
  }
}

// `auto` (the default) leaves the choice to Output::variant_cache_control.
void read_cache_control(Reader& r, const Entry& e, Output& o) {
  std::string value;
  r.string(e, 1024, value);
  if (value.empty() || value == "auto") return;
  // It becomes an HTTP header: a CR or LF here would let the recipe inject headers.
  if (std::any_of(value.begin(), value.end(), [](char c) { return c < 0x20 || c > 0x7e; })) {
    r.error(e, "cache_control contains a control or non-ASCII character; allowed: printable ASCII");
  } else {
    o.cache_control = std::move(value);
  }
}

// A key that a re-upload rewrites must not be cached as if it never changed.
void check_cache_control(Reader& r, const std::vector<Entry>& seen, const Output& o) {
  const Entry* entry = find_entry(seen, "cache_control");
  if (entry == nullptr || o.immutable_keys()) return;
  std::string lower = o.cache_control;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("immutable") != std::string::npos) {
    r.error(*entry,
            "cache_control says immutable, but key_template has no {hash}: uploading a source "
            "again rewrites the same keys, which caches would keep serving; allowed: add {hash} "
            "to key_template, or a validating policy such as \"public, no-cache\" (or auto)");
  }
}

constexpr auto kOutputFields = std::to_array<Field<Output>>({
    {"key_template", read_key_template},
    {"cache_control", read_cache_control},
    {"background", [](Reader& r, const Entry& e, Output& o) { r.color(e, o.background); }},
    {"auto_opaque", [](Reader& r, const Entry& e,
                       Output& o) { r.choice(e, internal::kConcreteFormatNames, o.auto_opaque); }},
    {"auto_alpha", [](Reader& r, const Entry& e,
                      Output& o) { r.choice(e, internal::kConcreteFormatNames, o.auto_alpha); }},
});

void read_clamd(Reader& r, const Entry& e, Scan& s) {
  const std::optional<std::string> text = r.scalar(e, "unix:/path/to/clamd.ctl or tcp://HOST:PORT");
  if (!text) return;
  auto address = scan::parse_clamd_address(*text);
  if (!address) {
    r.error(e, address.error().message);
    return;
  }
  s.clamd = std::move(*address);
}

// S3's bucket naming rules (3..63 of a-z 0-9 . -, a letter or digit at each end): the
// quarantine bucket is created by imgflow serve and must be reachable through any S3 API.
bool is_valid_bucket_name(std::string_view name) {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return name.size() >= 3 && name.size() <= 63 && alnum(name.front()) && alnum(name.back()) &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '.'; });
}

void read_quarantine_bucket(Reader& r, const Entry& e, Scan& s) {
  const std::optional<std::string> text = r.scalar(e, "a bucket name");
  if (!text) return;
  if (!is_valid_bucket_name(*text)) {
    r.error(e, "quarantine_bucket " + quote(*text) +
                   " is not a bucket name; allowed: 3..63 of a-z 0-9 . -, starting and ending "
                   "with a letter or digit");
    return;
  }
  s.quarantine_bucket = *text;
}

constexpr auto kScanFields = std::to_array<Field<Scan>>({
    {"clamd", read_clamd},
    {"on_infected",
     [](Reader& r, const Entry& e, Scan& s) {
       r.choice<OnInfected>(e, internal::kOnInfectedNames, s.on_infected);
     }},
    {"quarantine_bucket", read_quarantine_bucket},
    {"timeout_ms",
     [](Reader& r, const Entry& e, Scan& s) { r.integer(e, 1, 600'000, s.timeout_ms); }},
    {"max_bytes",
     [](Reader& r, const Entry& e, Scan& s) { r.byte_size(e, 1, 1ULL << 40U, s.max_bytes); }},
});

// ---- notify: webhooks. -----------------------------------------------------------------------

// http:// or https://, a host, no credentials (they would be logged and sent to every redirect),
// no whitespace or control characters; the rest is left to the HTTP client.
std::string webhook_url_problem(std::string_view url) {
  const auto scheme_end = url.find("://");
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme_end == std::string_view::npos || (scheme != "http" && scheme != "https")) {
    return "url " + quote(url) + " is not an http:// or https:// URL";
  }
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return is_control(c) || c == ' ' || c < 0; })) {
    return "url " + quote(url) + " contains a space, control or non-ASCII character";
  }
  const std::string_view rest = url.substr(scheme_end + 3);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.front() == ':') {
    return "url " + quote(url) + " has no host";
  }
  if (authority.find('@') != std::string_view::npos) {
    return "url " + quote(url) + " carries credentials; the signature authenticates instead";
  }
  return "";
}

bool is_environment_name(std::string_view name) {
  const auto upper = [](char c) { return (c >= 'A' && c <= 'Z') || c == '_'; };
  return !name.empty() && name.size() <= 128 && upper(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return upper(c) || (c >= '0' && c <= '9'); });
}

void read_webhook_events(Reader& r, const Entry& e, Webhook& w) {
  if (!e.value.IsSequence() || e.value.size() == 0) {
    r.error(e, "events: expected a list of at least one event, got " +
                   (e.value.IsSequence() ? "an empty list" : describe(e.value)) +
                   "; allowed: " + join_names<NotifyEvent>(internal::kNotifyEventNames));
    return;
  }
  w.events.clear();
  for (const YAML::Node& node : e.value) {
    NotifyEvent event = NotifyEvent::kProcessed;
    r.choice<NotifyEvent>(Entry{"event", e.key_node, node}, internal::kNotifyEventNames, event);
    if (!w.wants(event)) w.events.push_back(event);
  }
}

constexpr auto kWebhookFields = std::to_array<Field<Webhook>>({
    {"url",
     [](Reader& r, const Entry& e, Webhook& w) {
       std::string url;
       r.string(e, 2048, url);
       if (std::string problem = webhook_url_problem(url); !problem.empty()) {
         r.error(e, problem + "; allowed: http://HOST[:PORT]/PATH or https://...");
       } else {
         w.url = std::move(url);
       }
     }},
    {"secret_env",
     [](Reader& r, const Entry& e, Webhook& w) {
       std::string name;
       r.string(e, 256, name);
       if (!is_environment_name(name)) {
         r.error(e, "secret_env " + quote(name) +
                        " is not an environment variable name; allowed: A-Z 0-9 _, not "
                        "starting with a digit (the variable holds the secret, not the file)");
       } else {
         w.secret_env = std::move(name);
       }
     }},
    {"events", read_webhook_events},
});

constexpr std::size_t kMaxWebhooks = 8;

void read_webhooks(Reader& r, const Entry& e, Notify& n) {
  if (!e.value.IsSequence() || e.value.size() == 0 || e.value.size() > kMaxWebhooks) {
    r.error(e, "webhooks: expected a list of 1.." + std::to_string(kMaxWebhooks) +
                   " webhooks, got " +
                   (e.value.IsSequence() ? std::to_string(e.value.size()) + " entries"
                                         : describe(e.value)) +
                   "; allowed: - url: ... entries");
    return;
  }
  std::size_t index = 0;
  for (const YAML::Node& node : e.value) {
    const std::string label = "webhook #" + std::to_string(++index);
    Webhook w;
    w.events.assign({NotifyEvent::kProcessed, NotifyEvent::kFailed, NotifyEvent::kQuarantined});
    const std::vector<Entry> seen =
        read_mapping<Webhook>(r, node, node.Mark(), kWebhookFields, "in " + label, w);
    for (std::string_view required : {"url", "secret_env"}) {
      if (node.IsMap() && find_entry(seen, required) == nullptr) {
        r.error(node.Mark(), label + " has no " + std::string(required) +
                                 "; allowed keys: " + join_keys<Webhook>(kWebhookFields));
      }
    }
    n.webhooks.push_back(std::move(w));
  }
}

constexpr auto kNotifyFields = std::to_array<Field<Notify>>({
    {"webhooks", read_webhooks},
    {"max_attempts",
     [](Reader& r, const Entry& e, Notify& n) { r.integer(e, 1, 100, n.max_attempts); }},
    {"timeout_ms",
     [](Reader& r, const Entry& e, Notify& n) { r.integer(e, 100, 120'000, n.timeout_ms); }},
});

void read_notify(Reader& r, const Entry& e, Recipe& recipe) {
  const std::vector<Entry> seen = read_mapping<Notify>(r, e.value, e.key_node.Mark(), kNotifyFields,
                                                       "in notify", recipe.notify);
  if (find_entry(seen, "webhooks") == nullptr) {
    r.error(e.key_node.Mark(),
            "notify needs webhooks; allowed: webhooks: - url: https://... secret_env: NAME (or "
            "remove the section to notify no one)");
  }
}

// ---- Sections with cross-field rules. --------------------------------------------------------

// The variant's name if it has a readable one, for messages about its other keys.
std::string variant_label(const YAML::Node& node, std::size_t index) {
  if (node.IsMap()) {
    for (const auto& pair : node) {
      if (pair.first.IsScalar() && pair.first.Scalar() == "name" && pair.second.IsScalar() &&
          is_valid_variant_name(pair.second.Scalar())) {
        return "variant '" + pair.second.Scalar() + "'";
      }
    }
  }
  return "variant #" + std::to_string(index + 1);
}

Variant read_variant(Reader& r, const YAML::Node& node, std::size_t index) {
  Variant v;
  const std::string label = variant_label(node, index);
  if (!node.IsMap()) {
    r.error(node.Mark(), "expected a mapping of keys in " + label + ", got " + describe(node) +
                             "; allowed: " + join_keys<Variant>(kVariantFields));
    return v;
  }
  const std::vector<Entry> seen =
      read_mapping<Variant>(r, node, node.Mark(), kVariantFields, "in " + label, v);
  if (find_entry(seen, "name") == nullptr) {
    r.error(node.Mark(), label + " has no name; allowed: name: 1..64 of a-z 0-9 _ -");
  }
  if (v.resize.width == 0 && v.resize.height == 0) {
    r.error(node.Mark(), label + " needs width or height (at least one); allowed: 1.." +
                             std::to_string(kMaxDimension));
  }
  const Entry* fit = find_entry(seen, "fit");
  if (fit != nullptr && v.resize.fit != Fit::kInside &&
      (v.resize.width == 0 || v.resize.height == 0)) {
    r.error(*fit, "fit '" + std::string(to_string(v.resize.fit)) + "' in " + label +
                      " needs both width and height; allowed with one side: inside");
  }
  const Entry* gravity = find_entry(seen, "gravity");
  if (gravity != nullptr && v.resize.fit != Fit::kCover) {
    // It would do nothing, yet change the hash: almost certainly a misunderstanding.
    r.error(gravity->key_node.Mark(),
            "gravity in " + label + " applies only to cropping; allowed with: fit: cover");
  }
  return v;
}

void read_variants(Reader& r, const Entry& e, Recipe& recipe) {
  if (!e.value.IsSequence() || e.value.size() == 0 || e.value.size() > kMaxVariants) {
    r.error(e, "variants: expected a list of 1.." + std::to_string(kMaxVariants) +
                   " variants, got " +
                   (e.value.IsSequence() ? "an empty list" : describe(e.value)) +
                   "; allowed: - name: ... entries");
    return;
  }
  std::size_t index = 0;
  for (const YAML::Node& node : e.value) {
    Variant v = read_variant(r, node, index++);
    for (std::size_t j = 0; j < recipe.variants.size(); ++j) {
      if (!v.name.empty() && recipe.variants[j].name == v.name) {
        r.error(node.Mark(), "duplicate variant name " + quote(v.name) + " (also variant #" +
                                 std::to_string(j + 1) + "); allowed: each name once");
      }
    }
    recipe.variants.push_back(std::move(v));
  }
}

void read_watermark(Reader& r, const Entry& e, Recipe& recipe) {
  Watermark& w = recipe.watermark;
  const std::vector<Entry> seen =
      read_mapping<Watermark>(r, e.value, e.key_node.Mark(), kWatermarkFields, "in watermark", w);
  const auto location_of = [&](std::string_view key) {
    const Entry* entry = find_entry(seen, key);
    return entry == nullptr ? r.location(e.key_node.Mark()) : r.location(entry->value.Mark());
  };
  w.image_location = location_of("image");
  w.text_location = location_of("text");
  w.font_location = location_of("font");
  if (w.kind == Watermark::Kind::kNone) {
    r.error(e.key_node.Mark(),
            "watermark needs text or image; allowed: text: \"...\" or image: "
            "path/to/mark.png (or remove the section)");
  }
  if (w.kind == Watermark::Kind::kImage) {
    for (std::string_view text_only : {"font", "font_size", "color"}) {
      if (const Entry* entry = find_entry(seen, text_only)) {
        r.error(entry->key_node.Mark(), std::string(text_only) +
                                            " applies only to a text watermark; allowed with "
                                            "image: position, margin, opacity, scale, tile, "
                                            "min_width");
      }
    }
  }
}

void read_scan(Reader& r, const Entry& e, Recipe& recipe) {
  Scan& s = recipe.scan;
  s.enabled = true;
  const std::vector<Entry> seen =
      read_mapping<Scan>(r, e.value, e.key_node.Mark(), kScanFields, "in scan", s);
  if (find_entry(seen, "clamd") == nullptr) {
    r.error(e.key_node.Mark(),
            "scan needs clamd; allowed: clamd: unix:/path/to/clamd.ctl or tcp://HOST:PORT (or "
            "remove the section to scan nothing)");
  }
  const Entry* bucket = find_entry(seen, "quarantine_bucket");
  if (bucket != nullptr && s.on_infected != OnInfected::kQuarantine) {
    r.error(bucket->key_node.Mark(),
            "quarantine_bucket applies only to on_infected: quarantine; allowed with delete: "
            "clamd, on_infected, timeout_ms, max_bytes");
  }
}

// Runs once every section is read: max_bytes follows limits, wherever the two are written.
void check_scan_limit(Reader& r, const std::vector<Entry>& seen, Recipe& recipe) {
  const Entry* scan_entry = find_entry(seen, "scan");
  if (scan_entry == nullptr) return;
  Scan& s = recipe.scan;
  const std::uint64_t sources = recipe.limits.max_input_bytes;
  if (s.max_bytes == 0) {
    s.max_bytes = sources;
  } else if (s.max_bytes < sources) {
    // Sources in between would be accepted, never scanned, and fail every time.
    r.error(scan_entry->key_node.Mark(),
            "scan.max_bytes (" + std::to_string(s.max_bytes) +
                ") is below limits.max_input_bytes (" + std::to_string(sources) +
                "); allowed: at least limits.max_input_bytes (or leave it out to follow it)");
  }
}

constexpr auto kRecipeFields = std::to_array<Field<Recipe>>({
    {"variants", read_variants},
    {"watermark", read_watermark},
    {"limits",
     [](Reader& r, const Entry& e, Recipe& out) {
       read_mapping<Limits>(r, e.value, e.key_node.Mark(), kLimitsFields, "in limits", out.limits);
     }},
    {"metadata",
     [](Reader& r, const Entry& e, Recipe& out) {
       read_mapping<Metadata>(r, e.value, e.key_node.Mark(), kMetadataFields, "in metadata",
                              out.metadata);
     }},
    {"output",
     [](Reader& r, const Entry& e, Recipe& out) {
       const std::vector<Entry> seen = read_mapping<Output>(r, e.value, e.key_node.Mark(),
                                                            kOutputFields, "in output", out.output);
       check_cache_control(r, seen, out.output);
     }},
    {"scan", read_scan},
    {"notify", read_notify},
});

// Notes where each document starts, building nothing.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// A recipe is one document: YAML::Load would silently drop a second one. Looks at two at most,
// because yaml-cpp 0.7 reports endless empty documents for some malformed input (a leading ','),
// which makes YAML::LoadAll run out of memory.
void check_single_document(Reader& r, const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
  }
  if (starts.marks.size() < 2) return;
  const YAML::Mark& second = starts.marks[1];
  if (second.pos == starts.marks[0].pos) {
    r.error(second, "YAML syntax error: text outside any YAML document; allowed: one YAML mapping");
  } else {
    r.error(second, "found a second YAML document; allowed: one (remove the '---')");
  }
}

// The first tab in the leading whitespace of a line, up to the line a syntax error was found
// on: the likely cause of that error.
std::optional<YAML::Mark> indentation_tab(std::string_view text, const YAML::Mark& error_at) {
  int line = 0;
  for (std::size_t start = 0; start <= text.size() && line <= error_at.line; ++line) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view row = text.substr(start, end - start);
    const std::size_t indent = row.find_first_not_of(" \t");
    const std::size_t tab = row.substr(0, indent).find('\t');
    if (tab != std::string_view::npos) {
      YAML::Mark mark;
      mark.line = line;
      mark.column = static_cast<int>(tab);
      return mark;
    }
    start = end + 1;
  }
  return std::nullopt;
}

Recipe read_recipe(Reader& r, const YAML::Node& root) {
  Recipe recipe;
  const std::vector<Entry> seen =
      read_mapping<Recipe>(r, root, root.Mark(), kRecipeFields, "at the top level", recipe);
  if (root.IsMap() || root.IsNull()) {
    if (find_entry(seen, "variants") == nullptr) {
      r.error(root.Mark(), "missing required key 'variants'; allowed top-level keys: " +
                               join_keys<Recipe>(kRecipeFields));
    }
    check_scan_limit(r, seen, recipe);
  }
  return recipe;
}

}  // namespace

Result<Recipe> parse_recipe(std::string_view yaml_text, const fs::path& file_name) {
  const std::string label = file_name.string();
  if (yaml_text.size() > kMaxRecipeBytes) {
    return core::fail(ErrorCode::kTooLarge, label + ":1:1: recipe is " +
                                                std::to_string(yaml_text.size()) +
                                                " bytes; allowed: up to 1 MiB");
  }
  Reader reader(label, file_name.parent_path());
  try {
    const std::string text(yaml_text);
    check_single_document(reader, text);
    if (std::optional<Error> error = reader.take_error()) return core::fail(*std::move(error));
    Recipe recipe = read_recipe(reader, YAML::Load(text));
    if (std::optional<Error> error = reader.take_error()) return core::fail(*std::move(error));
    return recipe;
  } catch (const YAML::DeepRecursion& e) {
    return core::fail(ErrorCode::kInvalidArgument,
                      reader.location(e.mark) + ": YAML nested " + std::to_string(e.depth()) +
                          " levels deep; allowed: a recipe nests a few levels");
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports a tab in the indentation as "illegal block entry" or "illegal map
    // value", which says nothing to someone whose editor inserted it.
    if (std::optional<YAML::Mark> tab = indentation_tab(yaml_text, e.mark)) {
      return core::fail(ErrorCode::kInvalidArgument,
                        reader.location(*tab) +
                            ": YAML forbids tabs in indentation; allowed: spaces (set your "
                            "editor to indent with spaces)");
    }
    // Syntax errors (ParserException, DeepRecursion) carry the position yaml-cpp stopped at.
    return core::fail(ErrorCode::kInvalidArgument,
                      reader.location(e.mark) + ": YAML syntax error: " + e.msg +
                          "; allowed: a YAML mapping (see imgflow.example.yaml)");
  } catch (const std::exception& e) {
    // bad_alloc and the like: not the document's fault, but nothing may escape this boundary.
    return core::fail(ErrorCode::kInternal, label + ": " + e.what());
  }
}

Result<Recipe> load_recipe(const fs::path& path) {
  Result<std::string> text = read_small_file(path, kMaxRecipeBytes);
  if (!text) return core::fail(std::move(text.error()));
  return parse_recipe(*text, path);
}

}  // namespace imgflow::recipe
