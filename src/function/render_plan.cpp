#include "function/render_plan.h"

#include <algorithm>
#include <array>
#include <utility>

namespace imgflow::function {
namespace {

std::vector<std::string> hash_variants(const recipe::Recipe& recipe) {
  std::vector<std::string> hashes;
  hashes.reserve(recipe.variants.size());
  for (const recipe::Variant& variant : recipe.variants) {
    hashes.push_back(recipe.variant_hash(variant));
  }
  return hashes;
}

// The file extension of a format as the manifest names it ("jpeg" → "jpg"); "" if unknown.
std::string_view extension_of(std::string_view format) {
  constexpr std::array kFormats = {recipe::Format::kJpeg, recipe::Format::kPng,
                                   recipe::Format::kWebp, recipe::Format::kAvif,
                                   recipe::Format::kGif};
  for (const recipe::Format f : kFormats) {
    if (recipe::to_string(f) == format) return recipe::extension(f);
  }
  return "";
}

const ManifestVariant* entry_named(const Manifest& manifest, std::string_view name) {
  for (const ManifestVariant& v : manifest.variants) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

RenderPlan whole(const recipe::Recipe& recipe, std::string reason) {
  RenderPlan plan;
  plan.kind = RenderPlan::Kind::kWhole;
  plan.reason = std::move(reason);
  for (const recipe::Variant& v : recipe.variants) plan.added.push_back(v.name);
  return plan;
}

}  // namespace

std::string_view unquoted_etag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

bool RenderPlan::keeps(std::string_view variant) const {
  return std::find(kept.begin(), kept.end(), variant) != kept.end();
}

std::string_view to_string(RenderPlan::Kind kind) {
  switch (kind) {
    case RenderPlan::Kind::kCurrent:
      return "current";
    case RenderPlan::Kind::kWhole:
      return "whole";
    case RenderPlan::Kind::kPartial:
      return "partial";
  }
  return "unknown";
}

RenderPlanner::RenderPlanner(const recipe::Recipe& recipe, std::string destination_prefix)
    : recipe_(recipe),
      destination_prefix_(std::move(destination_prefix)),
      recipe_hash_(recipe.hash()),
      variant_hashes_(hash_variants(recipe)) {}

OutputLayout RenderPlanner::layout(std::string_view source_key) const {
  return {recipe_.output.key_template, destination_prefix_, source_key};
}

RenderPlan RenderPlanner::plan(const std::optional<Manifest>& previous, std::string_view source_key,
                               std::string_view source_etag) const {
  if (!previous) return whole(recipe_, "no manifest");
  if (previous->source.key != source_key) {
    return whole(recipe_, "the manifest is of " + previous->source.key);
  }
  if (unquoted_etag(previous->source.etag) != unquoted_etag(source_etag)) {
    return whole(recipe_, "the manifest is of another version of the source");
  }
  RenderPlan plan;
  if (previous->recipe_hash == recipe_hash_) {
    plan.kind = RenderPlan::Kind::kCurrent;
    for (const recipe::Variant& v : recipe_.variants) plan.kept.push_back(v.name);
    return plan;
  }
  plan.kind = RenderPlan::Kind::kPartial;
  const OutputLayout outputs = layout(source_key);
  for (std::size_t i = 0; i < recipe_.variants.size(); ++i) {
    const std::string& name = recipe_.variants[i].name;
    const ManifestVariant* entry = entry_named(*previous, name);
    if (entry == nullptr) {
      plan.added.push_back(name);
    } else if (unchanged(*entry, i, outputs)) {
      plan.kept.push_back(name);
    } else {
      plan.changed.push_back(name);
    }
  }
  for (const ManifestVariant& v : previous->variants) {
    const bool named = std::any_of(recipe_.variants.begin(), recipe_.variants.end(),
                                   [&](const recipe::Variant& r) { return r.name == v.name; });
    if (!named) plan.removed.push_back(v.name);
  }
  return plan;
}

// Kept only when the bytes would be the same (the variant hash) and so would the key: a new key
// template moves every output, and a moved output is written anew, never copied.
bool RenderPlanner::unchanged(const ManifestVariant& previous, std::size_t variant,
                              const OutputLayout& layout) const {
  if (previous.recipe_hash != variant_hashes_[variant]) return false;
  const std::string_view ext = extension_of(previous.format);
  if (ext.empty() || previous.sha256.empty()) return false;
  return layout.variant_key(previous.name, ext, previous.sha256) == previous.key;
}

}  // namespace imgflow::function
