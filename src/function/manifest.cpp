#include "function/manifest.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/codec.h"
#include "core/digest.h"

namespace imgflow::function {
namespace {

using nlohmann::ordered_json;

ordered_json source_json(const ManifestSource& s) {
  ordered_json j;
  j["key"] = s.key;
  j["bytes"] = s.bytes;
  j["sha256"] = s.sha256;
  if (!s.etag.empty()) j["etag"] = s.etag;
  j["format"] = s.format;
  j["width"] = s.width;
  j["height"] = s.height;
  j["frames"] = s.frames;
  return j;
}

ordered_json variant_json(const ManifestVariant& v) {
  ordered_json j;
  j["name"] = v.name;
  j["key"] = v.key;
  j["format"] = v.format;
  j["content_type"] = v.content_type;
  j["width"] = v.width;
  j["height"] = v.height;
  j["frames"] = v.frames;
  j["bytes"] = v.bytes;
  j["sha256"] = v.sha256;
  if (!v.etag.empty()) j["etag"] = v.etag;
  j["watermarked"] = v.watermarked;
  j["recipe_hash"] = v.recipe_hash;
  return j;
}

// Lower ranks come first in a <picture>: the smallest files a browser may accept.
int format_rank(std::string_view format) {
  if (format == "avif") return 0;
  if (format == "webp") return 1;
  return 2;
}

ordered_json formats_json(const Manifest& manifest) {
  ordered_json out = ordered_json::array();
  for (const ManifestFormat& f : formats_of(manifest.source, manifest.variants)) {
    out.push_back({{"format", f.format},
                   {"content_type", f.content_type},
                   {"srcset", f.srcset},
                   {"variants", f.variants}});
  }
  return out;
}

// Whether a w x h image has the proportions of a W x H one, to within a pixel of rounding.
bool same_proportions(std::int64_t w, std::int64_t h, std::int64_t big_w, std::int64_t big_h) {
  if (w <= 0 || h <= 0 || big_w <= 0 || big_h <= 0) return false;
  const std::int64_t off = w * big_h - h * big_w;  // in units of 1/big_w px of height
  return std::abs(off) <= std::max(big_w, big_h);
}

// The proportions the srcset groups keep: the source's if some variant has them, else the
// largest variant's.
std::pair<int, int> picture_proportions(const ManifestSource& source,
                                        const std::vector<ManifestVariant>& variants) {
  const ManifestVariant* largest = nullptr;
  for (const ManifestVariant& v : variants) {
    if (same_proportions(v.width, v.height, source.width, source.height)) {
      return {source.width, source.height};
    }
    if (largest == nullptr ||
        v.width * std::int64_t(v.height) > largest->width * std::int64_t(largest->height)) {
      largest = &v;
    }
  }
  return largest == nullptr ? std::pair{0, 0} : std::pair{largest->width, largest->height};
}

}  // namespace

std::vector<ManifestFormat> formats_of(const ManifestSource& source,
                                       const std::vector<ManifestVariant>& variants) {
  const auto [picture_w, picture_h] = picture_proportions(source, variants);
  std::vector<ManifestFormat> formats;
  std::vector<std::vector<const ManifestVariant*>> members;
  for (const ManifestVariant& v : variants) {
    if (!same_proportions(v.width, v.height, picture_w, picture_h)) continue;
    auto found = std::find_if(formats.begin(), formats.end(),
                              [&](const ManifestFormat& f) { return f.format == v.format; });
    if (found == formats.end()) {
      formats.push_back({v.format, v.content_type, "", {}});
      members.emplace_back();
      found = formats.end() - 1;
    }
    members[static_cast<std::size_t>(found - formats.begin())].push_back(&v);
  }
  for (std::size_t i = 0; i < formats.size(); ++i) {
    std::vector<const ManifestVariant*>& group = members[i];
    std::stable_sort(group.begin(), group.end(),
                     [](const auto* a, const auto* b) { return a->width < b->width; });
    int last_width = -1;
    for (const ManifestVariant* v : group) {
      formats[i].variants.push_back(v->name);
      if (v->width == last_width) continue;  // a srcset may not repeat a width
      last_width = v->width;
      if (!formats[i].srcset.empty()) formats[i].srcset += ", ";
      formats[i].srcset += core::uri_encode(v->key, true) + " " + std::to_string(v->width) + "w";
    }
  }
  // Best first; the recipe's order among equals (stable), so its last fallback stays last.
  std::vector<std::size_t> order(formats.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return format_rank(formats[a].format) < format_rank(formats[b].format);
  });
  std::vector<ManifestFormat> sorted;
  sorted.reserve(formats.size());
  for (const std::size_t i : order) sorted.push_back(std::move(formats[i]));
  return sorted;
}

std::string default_generator() {
  return std::string("imgflow ") + IMGFLOW_VERSION + " (libvips " + image::libvips_version() + ")";
}

Manifest manifest_for(const image::Processed& processed, std::string_view source_key,
                      std::string_view source_bytes, std::string_view source_etag,
                      std::string_view recipe_hash, std::string_view generator) {
  Manifest m;
  m.source = {std::string(source_key),
              source_bytes.size(),
              core::to_hex(core::sha256(source_bytes)),
              std::string(source_etag),
              std::string(image::to_string(processed.source.format)),
              processed.source.display_width(),
              processed.source.display_height(),
              processed.source.frames};
  m.recipe_hash = std::string(recipe_hash);
  m.placeholder = processed.placeholder;
  m.dominant_color = processed.dominant_color;
  m.generator = std::string(generator);
  return m;
}

ManifestVariant manifest_variant(const image::Rendition& rendition, std::string key,
                                 std::string sha256, std::string_view recipe_hash) {
  ManifestVariant v;
  v.name = rendition.variant;
  v.key = std::move(key);
  v.format = std::string(recipe::to_string(rendition.format));
  v.content_type = std::string(recipe::mime_type(rendition.format));
  v.width = rendition.width;
  v.height = rendition.height;
  v.frames = rendition.frames;
  v.bytes = rendition.bytes.size();
  v.sha256 = std::move(sha256);
  v.watermarked = rendition.watermarked;
  v.recipe_hash = std::string(recipe_hash);
  return v;
}

std::string to_json(const Manifest& m) {
  ordered_json j;
  j["version"] = Manifest::kVersion;
  j["source"] = source_json(m.source);
  j["recipe_hash"] = m.recipe_hash;
  j["variants"] = ordered_json::array();
  for (const ManifestVariant& v : m.variants) j["variants"].push_back(variant_json(v));
  j["placeholder"] = m.placeholder;
  if (!m.dominant_color.empty()) j["dominant_color"] = m.dominant_color;
  j["formats"] = formats_json(m);
  j["generator"] = m.generator;
  if (m.scan) {
    j["scan"] = {{"scanned_by", m.scan->scanned_by},
                 {"engine", m.scan->engine},
                 {"database", m.scan->database}};
  }
  return j.dump(2) + "\n";
}

core::Result<Manifest> parse_manifest(std::string_view json) {
  // nlohmann throws on malformed input and on type mismatches; this is the one place we catch.
  try {
    const auto j = nlohmann::json::parse(json);
    if (j.at("version").get<int>() != Manifest::kVersion) {
      return core::fail(core::ErrorCode::kCorrupt, "manifest version is not 1");
    }
    Manifest m;
    const auto& s = j.at("source");
    m.source.key = s.at("key").get<std::string>();
    m.source.bytes = s.at("bytes").get<std::uint64_t>();
    m.source.sha256 = s.at("sha256").get<std::string>();
    m.source.etag = s.value("etag", "");
    m.source.format = s.at("format").get<std::string>();
    m.source.width = s.at("width").get<int>();
    m.source.height = s.at("height").get<int>();
    m.source.frames = s.value("frames", 1);
    m.recipe_hash = j.at("recipe_hash").get<std::string>();
    for (const auto& v : j.at("variants")) {
      ManifestVariant out;
      out.name = v.at("name").get<std::string>();
      out.key = v.at("key").get<std::string>();
      out.format = v.at("format").get<std::string>();
      out.content_type = v.value("content_type", "");
      out.width = v.at("width").get<int>();
      out.height = v.at("height").get<int>();
      out.frames = v.value("frames", 1);
      out.bytes = v.at("bytes").get<std::uint64_t>();
      out.sha256 = v.at("sha256").get<std::string>();
      out.etag = v.value("etag", "");
      out.watermarked = v.value("watermarked", false);
      out.recipe_hash = v.value("recipe_hash", "");
      m.variants.push_back(std::move(out));
    }
    m.placeholder = j.value("placeholder", "");
    m.dominant_color = j.value("dominant_color", "");
    m.generator = j.value("generator", "");
    if (const auto scan = j.find("scan"); scan != j.end()) {
      m.scan = ManifestScan{scan->at("scanned_by").get<std::string>(), scan->value("engine", ""),
                            scan->value("database", "")};
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    return core::fail(core::ErrorCode::kCorrupt,
                      std::string("not an imgflow manifest: ") + e.what());
  }
}

}  // namespace imgflow::function
