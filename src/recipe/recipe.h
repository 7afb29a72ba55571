#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "scan/clamd_address.h"

// The typed vocabulary of an imgflow recipe: what variants to make and how. Plain structs with
// defaults; imgflow.yaml is parsed into them once (recipe_yaml.cpp) and the image engine
// executes them. Nothing downstream reads YAML or strings-as-options.
namespace imgflow::recipe {

// How the source is fitted into the variant's box (the same meanings as sharp's `fit`).
enum class Fit {
  kInside,   // keep aspect, fit within width×height
  kCover,    // keep aspect, fill width×height, crop the overflow (see Gravity)
  kContain,  // keep aspect, fit within, pad to exactly width×height with the background
  kFill,     // ignore aspect, stretch to exactly width×height
  kOutside,  // keep aspect, as small as possible while covering width×height, no crop
};

// Which part of the image a cover crop keeps.
enum class Gravity {
  kCentre,
  kNorth,
  kNorthEast,
  kEast,
  kSouthEast,
  kSouth,
  kSouthWest,
  kWest,
  kNorthWest,
  kAttention,  // smart crop: the region with the most skin tone, saturation and edges
  kEntropy,    // smart crop: the region with the most information
};

enum class Format { kAuto, kJpeg, kPng, kWebp, kAvif, kGif };

// Nine anchor positions for a watermark.
enum class Position {
  kTopLeft,
  kTop,
  kTopRight,
  kLeft,
  kCentre,
  kRight,
  kBottomLeft,
  kBottom,
  kBottomRight
};

struct Rgb {
  std::uint8_t r = 255, g = 255, b = 255;
  bool operator==(const Rgb&) const = default;
};

struct Resize {
  int width = 0;   // target box width in pixels; 0 = derive from height and aspect ratio
  int height = 0;  // target box height in pixels; 0 = derive from width and aspect ratio
  Fit fit = Fit::kInside;
  Gravity gravity = Gravity::kCentre;  // only used by kCover
  bool upscale = false;                // enlarging a small source only adds blur and bytes
};

struct Encode {
  Format format = Format::kAuto;
  int quality = 80;                // JPEG/WebP/AVIF quality 1..100; 80 is visually lossless-ish
  bool progressive = true;         // JPEG: progressive scans show early on slow links
  bool chroma_subsampling = true;  // JPEG 4:2:0: ~15% smaller for little visible loss
  int png_compression = 6;         // zlib level 0..9: 6 is the usual size/speed knee
  bool png_palette = false;        // quantise to 8-bit palette: far smaller for flat art
  bool lossless = false;           // WebP lossless
  int effort = 4;                  // 0..9, higher is smaller and slower; WebP uses min(effort, 6)
  bool keep_animation = true;      // keep frames when the output format can animate
};

struct Variant {
  std::string name;  // [a-z0-9_-]{1,64}; becomes {variant} in output keys
  Resize resize;
  Encode encode;
  bool watermark = true;  // apply the recipe's watermark (if any) to this variant
};

struct Watermark {
  enum class Kind { kNone, kImage, kText };
  Kind kind = Kind::kNone;
  std::filesystem::path image_path;       // kImage: resolved against the recipe file's directory
  std::string image_bytes;                // kImage: the file's bytes, read when the recipe loads
  std::string text;                       // kText: UTF-8 text to render
  std::string font = "DejaVu Sans Bold";  // kText: a Pango font family (fontconfig name)
  int font_size = 0;                      // kText: points; 0 = scale with the output (see scale)
  Rgb color{255, 255, 255};               // kText: text colour
  Position position = Position::kBottomRight;
  int margin = 16;       // pixels between the mark and the image edge
  double opacity = 0.6;  // 0..1, multiplied into the mark's alpha
  double scale = 0.2;    // mark width as a fraction of the output width (0 = natural size)
  bool tile = false;     // repeat the mark across the whole image (ignores position)
  int min_width = 300;   // variants narrower than this get no mark: it would swamp a thumbnail

  // Where `image`, `text` and `font` were given ("imgflow.yaml:14:10"), for messages about them
  // from the checks only the image engine can make (image::check_recipe). Not hashed.
  std::string image_location;
  std::string text_location;
  std::string font_location;
};

struct Limits {
  std::uint64_t max_pixels = 50'000'000;  // refuse decompression bombs before decoding
  int max_width = 30'000;                 // per-axis cap, checked from the header
  int max_height = 30'000;
  int max_frames = 200;                          // animated inputs: frames beyond are refused
  std::uint64_t max_input_bytes = 50ULL << 20U;  // 50 MiB: larger uploads are refused unread
  int time_limit_ms = 30'000;                    // per image, decode + all variants
  // Per image: what decoding and rendering would hold at once, estimated from the header (a
  // 5 KB GIF can declare a gigabyte of frames). Workers x this must fit the machine.
  std::uint64_t max_memory = 512ULL << 20U;
};

struct Metadata {
  bool keep_copyright = false;  // keep EXIF Copyright/Artist; everything else (GPS!) is stripped
  bool keep_icc = false;        // embed the sRGB ICC profile instead of relying on the default
};

struct Output {
  // Destination key of each variant, below the destination prefix. Placeholders: {dir} (the
  // source key's directory; with the '/' after it, nothing at the root), {file} (the source's
  // file name with its extension), {name} (file name without extension), {variant}, {ext} (of
  // the output's format), {hash} (16 hex digits of the output's SHA-256). The folder part must
  // end in {dir}/{file}, the source key itself, so that two sources never share outputs
  // (photo.jpg and photo.png both upload); manifest.json is written in that folder.
  std::string key_template = "{dir}/{file}/{variant}.{ext}";
  // Cache-Control of every variant; "" (`auto` in YAML) = chosen by immutable_keys().
  std::string cache_control;
  Rgb background{255, 255, 255};       // alpha is flattened onto this for formats without alpha
  Format auto_opaque = Format::kJpeg;  // what `format: auto` picks for images without alpha
  Format auto_alpha = Format::kPng;    // what `format: auto` picks for images with alpha

  // Whether every variant key names its bytes ({hash} in key_template): a key then never changes
  // what it serves, and caches may keep it forever.
  bool immutable_keys() const;

  // The Cache-Control stored with each variant: cache_control if set; otherwise a year and
  // `immutable` for immutable keys, and for keys a re-upload rewrites "public, no-cache" (caches
  // keep the bytes but ask again each time, which costs a 304 while nothing changed).
  std::string variant_cache_control() const;
};

// What becomes of an upload the scanner finds infected. It is never decoded or published.
enum class OnInfected {
  kQuarantine,  // copied into quarantine_bucket (the admin's alone), then deleted from the source
  kDelete,      // deleted from the source; only the log and the metrics remember it
};

// Malware scanning by clamd before any decoder sees the bytes (the `scan:` section; absent =
// no scanning). Fail-closed: a scanner that cannot answer makes the upload fail and retry, never
// pass unscanned. Not part of the recipe hash: scanning changes no output byte.
struct Scan {
  bool enabled = false;                              // the section is present
  scan::ClamdAddress clamd;                          // required: where clamd listens
  OnInfected on_infected = OnInfected::kQuarantine;  // keep the evidence for an admin
  std::string quarantine_bucket = "quarantine";      // private; a valid S3 bucket name
  int timeout_ms = 30'000;  // whole scan; clamd scans ~80 MB/s, so 100 MiB with room to spare
  // Larger sources are not scanned and fail (never pass). Default: limits.max_input_bytes, so
  // every source the handler accepts is scanned whole; never below it. clamd's StreamMaxLength,
  // MaxFileSize and MaxScanSize must be at least this (Debian's clamd.conf sets 25M), and
  // AlertExceedsMax on, or clamd answers OK for what it did not scan whole.
  std::uint64_t max_bytes = 0;
};

// What a notification reports: one per source, never per variant.
enum class NotifyEvent {
  kProcessed,    // every variant and then the manifest are stored
  kFailed,       // dead-lettered: a permanent failure, or retries ran out
  kQuarantined,  // the scanner found it infected (on_infected: quarantine or delete)
};

// An HTTP endpoint that receives notifications, signed with HMAC-SHA256 (X-Imgflow-Signature).
struct Webhook {
  std::string url;  // http:// or https://
  // The environment variable that holds the signing secret: a secret has no place in a file
  // that is committed and hashed. The process that delivers refuses to start without it.
  std::string secret_env;
  std::vector<NotifyEvent> events;  // at least one; default every event
  bool wants(NotifyEvent event) const;
  bool operator==(const Webhook&) const = default;
};

// The `notify:` section (absent = no notifications). Delivery is at least once, from a durable
// queue, in order per source; not part of the recipe hash (it changes no output byte).
struct Notify {
  std::vector<Webhook> webhooks;
  // Per notification and endpoint set: 1 s before the second attempt, doubling up to 10 min
  // between attempts, so 16 attempts span about 80 minutes before the notification is
  // dead-lettered (`imgflow dlq` shows it, `redrive` sends it again).
  int max_attempts = 16;
  int timeout_ms = 10'000;  // one delivery: connect, send, and the receiver's answer
  bool enabled() const { return !webhooks.empty(); }
  bool wants(NotifyEvent event) const;  // some webhook subscribes to `event`
  bool operator==(const Notify&) const = default;
};

struct Recipe {
  std::vector<Variant> variants;  // at least one; names unique
  Watermark watermark;
  Limits limits;
  Metadata metadata;
  Output output;
  Scan scan;
  Notify notify;

  // The variant whose box demands the most source pixels: it sets the shrink-on-load factor.
  // Boxes are ordered by their longest edge, then by area (a 0 side is unbounded, so 1600x0
  // outranks 1600x1600), then fits that must reach both edges (cover, fill, outside) outrank
  // inside and contain; on a tie the earliest variant wins. Requires at least one variant.
  const Variant& largest() const;

  // Hex SHA-256 of everything that changes this variant's output bytes (its own fields, and the
  // watermark, metadata policy and background where they apply). Stable across runs, platforms
  // and field order in the YAML. The name is not included: it changes keys, not bytes. The
  // watermark counts only if the variant is watermarked and the recipe has one; an image mark
  // counts by the SHA-256 of its bytes, not its path. Limits and cache_control are not included.
  std::string variant_hash(const Variant& variant) const;

  // Hex SHA-256 over every variant's name and hash, in order, and the output key template: it
  // changes whenever any output key or byte would.
  std::string hash() const;
};

// Parses imgflow.yaml text. `file_name` is used in messages ("imgflow.yaml:12:5: ...") and its
// directory resolves relative paths; a watermark image is read here, into image_bytes. Every
// error names file:line:column and what is allowed. Returns kInvalidArgument for any mistake in
// the document (unknown keys included), kNotFound if the watermark image does not exist,
// kTooLarge for a recipe over 1 MiB or a watermark image over 16 MiB. Never throws.
core::Result<Recipe> parse_recipe(std::string_view yaml_text,
                                  const std::filesystem::path& file_name);

// Reads and parses a recipe file. kNotFound if it does not exist; otherwise as parse_recipe.
core::Result<Recipe> load_recipe(const std::filesystem::path& path);

// The recipe used when none is configured: large (1600 inside, watermarked, JPEG),
// medium (800 inside, watermarked), thumb (200x200 cover, WebP), a text watermark.
// It is imgflow.example.yaml, compiled in and parsed on first use, so the two cannot drift.
Recipe default_recipe();

// File extension (no dot) and MIME type of a concrete (non-auto) format: jpeg is "jpg" and
// "image/jpeg". kAuto has none: "" and "application/octet-stream".
std::string_view extension(Format format);
std::string_view mime_type(Format format);

// The YAML spelling of each value ("inside", "northeast", "webp", "bottom-right"), for logs.
std::string_view to_string(Fit fit);
std::string_view to_string(Gravity gravity);
std::string_view to_string(Format format);
std::string_view to_string(Position position);
std::string_view to_string(OnInfected on_infected);
std::string_view to_string(NotifyEvent event);

}  // namespace imgflow::recipe
