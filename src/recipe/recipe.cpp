#include "recipe/recipe.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <tuple>

#include "core/digest.h"
#include "recipe/example_recipe.h"
#include "recipe/names.h"

namespace imgflow::recipe {
namespace {

// Prefix of every hashed serialization. Bump it when a field's meaning changes (not when one is
// added: new fields change the serialization by themselves), so old outputs are re-made.
// v2: text watermarks gained a halo, cover without upscale keeps the box's shape, keep_icc
// always embeds a profile (the same recipe makes different bytes).
constexpr std::string_view kHashVersion = "imgflow-recipe-v2";

// A canonical, unambiguous text form of values for hashing: one `key=value` line each, in the
// order written, strings length-prefixed so no value can forge the next line. Independent of
// YAML key order, comments and spelling (`center` and `centre` hash the same).
class Canonical {
 public:
  explicit Canonical(std::string_view kind) {
    out_ += kHashVersion;
    out_ += ' ';
    out_ += kind;
    out_ += '\n';
  }

  void text(std::string_view key, std::string_view value) {
    line(key, std::to_string(value.size()) + ":" + std::string(value));
  }
  void integer(std::string_view key, std::int64_t value) { line(key, std::to_string(value)); }
  void boolean(std::string_view key, bool value) { line(key, value ? "true" : "false"); }
  void number(std::string_view key, double value) {
    // Shortest round-trip form: the same double gives the same text on every platform.
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    assert(ec == std::errc());
    line(key, std::string(buf.data(), end));
  }
  void color(std::string_view key, Rgb value) {
    std::array<char, 8> buf{};
    std::snprintf(buf.data(), buf.size(), "#%02x%02x%02x", value.r, value.g, value.b);
    line(key, buf.data());
  }

  std::string hex_sha256() const { return core::to_hex(core::sha256(out_)); }

 private:
  void line(std::string_view key, std::string_view value) {
    out_ += key;
    out_ += '=';
    out_ += value;
    out_ += '\n';
  }

  std::string out_;
};

// The watermark's share of a variant hash. Only fields the chosen kind uses count, and an image
// counts by content: moving the file does not re-make outputs, editing it does.
void add_watermark(Canonical& c, const Watermark& w) {
  switch (w.kind) {
    case Watermark::Kind::kNone:
      c.text("watermark", "none");
      return;
    case Watermark::Kind::kImage:
      c.text("watermark", "image");
      c.text("watermark.image_sha256", core::to_hex(core::sha256(w.image_bytes)));
      break;
    case Watermark::Kind::kText:
      c.text("watermark", "text");
      c.text("watermark.text", w.text);
      c.text("watermark.font", w.font);
      c.integer("watermark.font_size", w.font_size);
      c.color("watermark.color", w.color);
      break;
  }
  c.text("watermark.position", to_string(w.position));
  c.integer("watermark.margin", w.margin);
  c.number("watermark.opacity", w.opacity);
  c.number("watermark.scale", w.scale);
  c.boolean("watermark.tile", w.tile);
  c.integer("watermark.min_width", w.min_width);
}

// How much source a box can demand, compared lexicographically (see Recipe::largest).
auto demand(const Resize& r) {
  const bool unbounded = r.width == 0 || r.height == 0;
  const std::uint64_t area = unbounded ? std::numeric_limits<std::uint64_t>::max()
                                       : std::uint64_t(r.width) * std::uint64_t(r.height);
  // cover, fill and outside must reach both edges of the box, so they scale by the larger ratio
  // and need more source than inside or contain with the same box.
  const bool reaches_both_edges =
      r.fit == Fit::kCover || r.fit == Fit::kFill || r.fit == Fit::kOutside;
  return std::make_tuple(std::max(r.width, r.height), area, reaches_both_edges);
}

}  // namespace

const Variant& Recipe::largest() const {
  assert(!variants.empty());
  // max_element keeps the first of equals: the earliest variant wins a tie.
  return *std::max_element(
      variants.begin(), variants.end(),
      [](const Variant& a, const Variant& b) { return demand(a.resize) < demand(b.resize); });
}

std::string Recipe::variant_hash(const Variant& variant) const {
  // Every field that can change the bytes, including ones the variant's format ignores (a
  // `format: auto` variant may become any format). A spurious re-make is cheap; a stale one is
  // wrong.
  Canonical c("variant");
  const Resize& r = variant.resize;
  c.integer("resize.width", r.width);
  c.integer("resize.height", r.height);
  c.text("resize.fit", to_string(r.fit));
  c.text("resize.gravity", to_string(r.gravity));
  c.boolean("resize.upscale", r.upscale);
  const Encode& e = variant.encode;
  c.text("encode.format", to_string(e.format));
  c.integer("encode.quality", e.quality);
  c.boolean("encode.progressive", e.progressive);
  c.boolean("encode.chroma_subsampling", e.chroma_subsampling);
  c.integer("encode.png_compression", e.png_compression);
  c.boolean("encode.png_palette", e.png_palette);
  c.boolean("encode.lossless", e.lossless);
  c.integer("encode.effort", e.effort);
  c.boolean("encode.keep_animation", e.keep_animation);
  c.boolean("metadata.keep_copyright", metadata.keep_copyright);
  c.boolean("metadata.keep_icc", metadata.keep_icc);
  c.color("output.background", output.background);
  c.text("output.auto_opaque", to_string(output.auto_opaque));
  c.text("output.auto_alpha", to_string(output.auto_alpha));
  add_watermark(c, variant.watermark ? watermark : Watermark{});
  return c.hex_sha256();
}

std::string Recipe::hash() const {
  Canonical c("recipe");
  for (const Variant& v : variants) {
    c.text("variant.name", v.name);  // names appear in output keys
    c.text("variant.hash", variant_hash(v));
  }
  c.text("output.key_template", output.key_template);
  return c.hex_sha256();
}

Recipe default_recipe() {
  // Parsed once; the test suite checks it equals load_recipe("imgflow.example.yaml").
  static const Recipe parsed_once = [] {
    core::Result<Recipe> parsed =
        parse_recipe(internal::kExampleRecipeYaml, "imgflow.example.yaml");
    if (!parsed) {
      // The built-in recipe is part of the program: failing to parse it is a build defect.
      std::fprintf(stderr, "built-in recipe is invalid: %s\n", parsed.error().message.c_str());
      std::abort();
    }
    return *std::move(parsed);
  }();
  return parsed_once;
}

std::string_view extension(Format format) {
  switch (format) {
    case Format::kJpeg:
      return "jpg";
    case Format::kPng:
      return "png";
    case Format::kWebp:
      return "webp";
    case Format::kAvif:
      return "avif";
    case Format::kGif:
      return "gif";
    case Format::kAuto:
      break;
  }
  return "";
}

std::string_view mime_type(Format format) {
  switch (format) {
    case Format::kJpeg:
      return "image/jpeg";
    case Format::kPng:
      return "image/png";
    case Format::kWebp:
      return "image/webp";
    case Format::kAvif:
      return "image/avif";
    case Format::kGif:
      return "image/gif";
    case Format::kAuto:
      break;
  }
  return "application/octet-stream";
}

std::string_view to_string(Fit fit) { return internal::name_of<Fit>(internal::kFitNames, fit); }
std::string_view to_string(Gravity gravity) {
  return internal::name_of<Gravity>(internal::kGravityNames, gravity);
}
std::string_view to_string(Format format) {
  return internal::name_of<Format>(internal::kFormatNames, format);
}
std::string_view to_string(Position position) {
  return internal::name_of<Position>(internal::kPositionNames, position);
}

std::string_view to_string(OnInfected on_infected) {
  return internal::name_of<OnInfected>(internal::kOnInfectedNames, on_infected);
}

std::string_view to_string(NotifyEvent event) {
  return internal::name_of<NotifyEvent>(internal::kNotifyEventNames, event);
}

bool Webhook::wants(NotifyEvent event) const {
  return std::find(events.begin(), events.end(), event) != events.end();
}

bool Notify::wants(NotifyEvent event) const {
  return std::any_of(webhooks.begin(), webhooks.end(),
                     [event](const Webhook& w) { return w.wants(event); });
}

bool Output::immutable_keys() const { return key_template.find("{hash}") != std::string::npos; }

std::string Output::variant_cache_control() const {
  if (!cache_control.empty()) return cache_control;
  return immutable_keys() ? "public, max-age=31536000, immutable" : "public, no-cache";
}

}  // namespace imgflow::recipe
