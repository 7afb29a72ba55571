#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "image/image.h"

// manifest.json: the record of one processed source, written after every variant so its
// presence means the set is complete.
namespace imgflow::function {

struct ManifestSource {
  std::string key;  // object key, or the file name for `imgflow process`
  std::uint64_t bytes = 0;
  std::string sha256;  // hex
  std::string etag;    // the source object's ETag; empty for local files
  std::string format;  // "jpeg", "png", ...
  int width = 0;       // display orientation
  int height = 0;
  int frames = 1;
};

struct ManifestVariant {
  std::string name;
  std::string key;     // destination key, or the path relative to the output directory
  std::string format;  // "jpeg", "webp", ...
  std::string content_type;
  int width = 0;
  int height = 0;
  int frames = 1;
  std::uint64_t bytes = 0;
  std::string sha256;  // hex content hash
  std::string etag;    // the stored object's ETag; empty for local files
  bool watermarked = false;
  std::string recipe_hash;  // this variant's recipe hash
};

// Who scanned the source before it was decoded (recipe `scan:`); absent without scanning.
struct ManifestScan {
  std::string scanned_by;  // "clamd unix:/run/clamav/clamd.ctl"
  std::string engine;      // "ClamAV 1.4.6"; "" if the scanner did not say
  std::string database;    // signature database version ("27412"); "" for local signatures only
};

struct Manifest {
  static constexpr int kVersion = 1;
  ManifestSource source;
  std::string recipe_hash;
  std::string placeholder;     // data: URI of a tiny blurred preview
  std::string dominant_color;  // "#rrggbb": a background to show while the image loads
  std::vector<ManifestVariant> variants;
  std::string generator;  // "imgflow 0.1.0 (libvips 8.14.1)"
  std::optional<ManifestScan> scan;
};

// The manifest's "generator" for this build: "imgflow <version> (libvips <version>)".
std::string default_generator();

// A manifest for `processed`, made from `source_bytes` stored as `source_key` (with its ETag; ""
// for local files): source, recipe hash, placeholder and generator filled in, no variants yet.
// Shared by `imgflow process` and the handler so the two write the same shape.
Manifest manifest_for(const image::Processed& processed, std::string_view source_key,
                      std::string_view source_bytes, std::string_view source_etag,
                      std::string_view recipe_hash, std::string_view generator);

// The manifest's entry for one rendition stored under `key` (`sha256`: its bytes' hex digest,
// `recipe_hash`: the variant's). The ETag is left empty for the caller that stored it.
ManifestVariant manifest_variant(const image::Rendition& rendition, std::string key,
                                 std::string sha256, std::string_view recipe_hash);

// The variants of one format, as a <picture> element's <source> (or its <img>) takes them.
struct ManifestFormat {
  std::string format;        // "avif", "webp", "jpeg", ...
  std::string content_type;  // the <source type>
  // "<key> <width>w, ..." by width, keys percent-encoded (a space or comma would split the list)
  // and relative: prefix each with the base URL the outputs are served from. One entry per width.
  std::string srcset;
  std::vector<std::string> variants;  // their names, by width
};

// The variants that show the whole picture, grouped by format, best first: AVIF, WebP, then
// the others (JPEG, PNG, GIF...) in the order the recipe names them. The last group is the
// <img> fallback; every browser decodes it when the recipe ends with a JPEG, PNG or GIF variant.
// A srcset must list one picture at several widths, so only variants with the source's
// proportions (to a pixel) take part: a cropped or padded one, such as a square thumbnail of a
// landscape photo, is another picture, and a browser choosing it by width would show the wrong
// crop. If none has them, the largest variant's proportions are used instead.
std::vector<ManifestFormat> formats_of(const ManifestSource& source,
                                       const std::vector<ManifestVariant>& variants);

// Pretty-printed JSON with a stable field order (so identical work yields identical bytes).
// "formats" (formats_of) is written for front-ends and not read back: it follows the variants.
std::string to_json(const Manifest& manifest);

// Parses a manifest written by to_json. kCorrupt with the reason if it is not one.
core::Result<Manifest> parse_manifest(std::string_view json);

}  // namespace imgflow::function
