#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "function/manifest.h"
#include "function/output_layout.h"
#include "recipe/recipe.h"

// What a recipe change means for one source's outputs: which variants stay as they are, which
// are made again, added or removed. The handler follows the plan; `imgflow reprocess` prints it
// (--dry-run) and acts on it.
namespace imgflow::function {

struct RenderPlan {
  enum class Kind {
    kCurrent,  // the manifest matches this version of the source and the recipe: nothing to do
    kWhole,    // no manifest of this version of the source: every variant is made
    kPartial,  // this version's manifest, by another recipe: only what the change affects
  };
  Kind kind = Kind::kWhole;
  std::string reason;  // kWhole: why the previous outputs cannot be kept ("no manifest", ...)
  // Variant names, in recipe order (removed: in the manifest's order). kWhole lists every
  // variant as added.
  std::vector<std::string> kept;     // same variant hash and key: the object is left untouched
  std::vector<std::string> changed;  // its variant hash or its key changed: made again
  std::vector<std::string> added;    // new in the recipe
  std::vector<std::string> removed;  // no longer in the recipe: deleted after the manifest

  bool keeps(std::string_view variant) const;
};

std::string_view to_string(RenderPlan::Kind kind);

// Plans against one recipe, hashed once; immutable, so any thread may use it.
class RenderPlanner {
 public:
  RenderPlanner(const recipe::Recipe& recipe, std::string destination_prefix);

  // The plan for the source `source_key` at `source_etag` (quoted or not) whose manifest is
  // `previous` (nullopt: none, or unreadable). A manifest that names another source (an older
  // key layout) or another ETag plans kWhole.
  RenderPlan plan(const std::optional<Manifest>& previous, std::string_view source_key,
                  std::string_view source_etag) const;

  // The layout of the source's outputs under this recipe.
  OutputLayout layout(std::string_view source_key) const;

  const recipe::Recipe& recipe() const { return recipe_; }
  const std::string& recipe_hash() const { return recipe_hash_; }
  const std::vector<std::string>& variant_hashes() const { return variant_hashes_; }  // in order

 private:
  bool unchanged(const ManifestVariant& previous, std::size_t variant,
                 const OutputLayout& layout) const;

  recipe::Recipe recipe_;
  std::string destination_prefix_;
  std::string recipe_hash_;
  std::vector<std::string> variant_hashes_;
};

// An ETag without the quotes S3 puts around it on the wire.
std::string_view unquoted_etag(std::string_view etag);

}  // namespace imgflow::function
