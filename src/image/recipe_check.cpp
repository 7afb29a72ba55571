// The recipe checks only the engine can make, run once when a recipe loads: a watermark that
// would fail (or silently change) on every upload is a configuration error, not a stream of
// dead letters.
#include <fontconfig/fontconfig.h>
#include <pango/pango.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/text.h"
#include "image/image.h"
#include "image/vips_errors.h"
#include "image/watermark.h"

namespace imgflow::image {
namespace {

using core::ErrorCode;

struct FcPatternFree {
  void operator()(FcPattern* p) const { FcPatternDestroy(p); }
};
struct FcFontSetFree {
  void operator()(FcFontSet* s) const { FcFontSetDestroy(s); }
};
struct FcCharSetFree {
  void operator()(FcCharSet* c) const { FcCharSetDestroy(c); }
};
struct PangoDescriptionFree {
  void operator()(PangoFontDescription* d) const { pango_font_description_free(d); }
};
using FcPatternPtr = std::unique_ptr<FcPattern, FcPatternFree>;
using FcFontSetPtr = std::unique_ptr<FcFontSet, FcFontSetFree>;
using FcCharSetPtr = std::unique_ptr<FcCharSet, FcCharSetFree>;
using PangoDescriptionPtr = std::unique_ptr<PangoFontDescription, PangoDescriptionFree>;

bool same_family(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// The fontconfig query Pango makes for a font description such as "DejaVu Sans Bold".
FcPatternPtr pattern_for(const PangoFontDescription& font) {
  FcPatternPtr pattern(FcPatternCreate());
  const char* family = pango_font_description_get_family(&font);
  FcPatternAddString(pattern.get(), FC_FAMILY,
                     reinterpret_cast<const FcChar8*>(family != nullptr ? family : "sans"));
  FcPatternAddInteger(pattern.get(), FC_WEIGHT,
                      FcWeightFromOpenType(pango_font_description_get_weight(&font)));
  const PangoStyle style = pango_font_description_get_style(&font);
  FcPatternAddInteger(pattern.get(), FC_SLANT,
                      style == PANGO_STYLE_ITALIC    ? FC_SLANT_ITALIC
                      : style == PANGO_STYLE_OBLIQUE ? FC_SLANT_OBLIQUE
                                                     : FC_SLANT_ROMAN);
  FcConfigSubstitute(nullptr, pattern.get(), FcMatchPattern);
  FcDefaultSubstitute(pattern.get());
  return pattern;
}

std::vector<std::string> families_of(const FcPattern& font) {
  std::vector<std::string> out;
  FcChar8* name = nullptr;
  for (int i = 0; FcPatternGetString(&font, FC_FAMILY, i, &name) == FcResultMatch; ++i) {
    out.emplace_back(reinterpret_cast<const char*>(name));
  }
  return out;
}

std::string code_point_list(const std::vector<char32_t>& missing) {
  std::string out;
  for (std::size_t i = 0; i < missing.size() && i < 8; ++i) {
    std::array<char, 16> hex{};
    std::snprintf(hex.data(), hex.size(), "U+%04X", static_cast<unsigned>(missing[i]));
    out += (i > 0 ? ", " : "") + std::string(hex.data());
  }
  if (missing.size() > 8) out += ", ... (" + std::to_string(missing.size()) + " in all)";
  return out;
}

// The text watermark's font must be installed under the family asked for: fontconfig would
// otherwise quietly draw another. Characters that no installed font has render as boxes.
core::Status check_font(const recipe::Watermark& w, std::vector<std::string>& warnings) {
  const PangoDescriptionPtr font(pango_font_description_from_string(w.font.c_str()));
  const char* family = pango_font_description_get_family(font.get());
  if (family == nullptr || *family == '\0') {
    return core::fail(ErrorCode::kInvalidArgument, w.font_location + ": font '" + w.font +
                                                       "' names no family; allowed: a "
                                                       "family and style, e.g. 'DejaVu "
                                                       "Sans Bold'");
  }
  if (FcInit() == FcFalse) {
    return core::fail(ErrorCode::kInternal, "fontconfig cannot start: no fonts can be checked");
  }
  const FcPatternPtr pattern = pattern_for(*font);
  FcCharSet* coverage = nullptr;
  FcResult result = FcResultNoMatch;
  const FcFontSetPtr fonts(FcFontSort(nullptr, pattern.get(), FcTrue, &coverage, &result));
  const FcCharSetPtr covered(coverage);
  if (!fonts || fonts->nfont == 0) {
    return core::fail(ErrorCode::kInvalidArgument,
                      w.font_location +
                          ": no fonts are installed; a text watermark needs one "
                          "(Debian: fonts-dejavu-core)");
  }
  const std::vector<std::string> found = families_of(*fonts->fonts[0]);
  if (std::none_of(found.begin(), found.end(),
                   [&](const std::string& f) { return same_family(f, family); })) {
    return core::fail(ErrorCode::kInvalidArgument,
                      w.font_location + ": font family '" + family +
                          "' is not installed (fontconfig would draw '" +
                          (found.empty() ? "?" : found.front()) +
                          "' instead); allowed: an installed family, as `fc-list : family` "
                          "lists them");
  }
  std::vector<char32_t> missing;
  for (char32_t cp : core::utf8_code_points(w.text)) {
    const bool space = cp == ' ' || cp == '\t' || cp == '\n';
    if (!space && (covered == nullptr || FcCharSetHasChar(covered.get(), cp) == FcFalse) &&
        std::find(missing.begin(), missing.end(), cp) == missing.end()) {
      missing.push_back(cp);
    }
  }
  if (!missing.empty()) {
    warnings.push_back(w.text_location + ": no installed font can draw " +
                       code_point_list(missing) +
                       " of the watermark text: they render as boxes; install a font that has "
                       "them (Debian's fonts-noto covers most scripts)");
  }
  return {};
}

}  // namespace

core::Result<std::vector<std::string>> check_recipe(const recipe::Recipe& recipe) {
  std::vector<std::string> warnings;
  const recipe::Watermark& w = recipe.watermark;
  if (w.kind == recipe::Watermark::Kind::kNone) return warnings;
  if (auto started = init(); !started) return core::fail(started.error());
  if (w.kind == recipe::Watermark::Kind::kText) {
    if (auto ok = check_font(w, warnings); !ok) return core::fail(ok.error());
  }
  // Rendering the mark once proves it: an image mark that does not decode, or text Pango
  // refuses, would otherwise fail every upload.
  detail::OperationErrors errors;
  if (auto mark = detail::prepared_mark(w); !mark) {
    const std::string& at =
        w.kind == recipe::Watermark::Kind::kImage ? w.image_location : w.text_location;
    const std::string what =
        w.kind == recipe::Watermark::Kind::kImage ? w.image_path.string() : "the text";
    return core::fail(
        ErrorCode::kInvalidArgument,
        at + ": " + what + " cannot be used as the watermark: " + mark.error().to_string());
  }
  return warnings;
}

}  // namespace imgflow::image
