#pragma once

#include <array>
#include <span>
#include <string_view>

#include "recipe/recipe.h"

// The YAML spelling of every enum value, shared by the parser (text -> value) and the hash and
// to_string (value -> text). Internal to the recipe module.
namespace imgflow::recipe::internal {

template <typename E>
struct Name {
  E value;
  std::string_view text;
};

// Where a value has two spellings, the first is canonical: to_string and the hash use it, so
// writing `center` or `centre` gives the same hash.
inline constexpr auto kFitNames = std::to_array<Name<Fit>>({
    {Fit::kInside, "inside"},
    {Fit::kCover, "cover"},
    {Fit::kContain, "contain"},
    {Fit::kFill, "fill"},
    {Fit::kOutside, "outside"},
});

inline constexpr auto kGravityNames = std::to_array<Name<Gravity>>({
    {Gravity::kCentre, "centre"},
    {Gravity::kCentre, "center"},
    {Gravity::kNorth, "north"},
    {Gravity::kNorthEast, "northeast"},
    {Gravity::kEast, "east"},
    {Gravity::kSouthEast, "southeast"},
    {Gravity::kSouth, "south"},
    {Gravity::kSouthWest, "southwest"},
    {Gravity::kWest, "west"},
    {Gravity::kNorthWest, "northwest"},
    {Gravity::kAttention, "attention"},
    {Gravity::kEntropy, "entropy"},
});

inline constexpr auto kFormatNames = std::to_array<Name<Format>>({
    {Format::kAuto, "auto"},
    {Format::kJpeg, "jpeg"},
    {Format::kJpeg, "jpg"},
    {Format::kPng, "png"},
    {Format::kWebp, "webp"},
    {Format::kAvif, "avif"},
    {Format::kGif, "gif"},
});

// Formats `format: auto` may resolve to: every concrete format.
inline constexpr std::span<const Name<Format>> kConcreteFormatNames =
    std::span(kFormatNames).subspan(1);

inline constexpr auto kPositionNames = std::to_array<Name<Position>>({
    {Position::kTopLeft, "top-left"},
    {Position::kTop, "top"},
    {Position::kTopRight, "top-right"},
    {Position::kLeft, "left"},
    {Position::kCentre, "centre"},
    {Position::kCentre, "center"},
    {Position::kRight, "right"},
    {Position::kBottomLeft, "bottom-left"},
    {Position::kBottom, "bottom"},
    {Position::kBottomRight, "bottom-right"},
});

inline constexpr auto kNotifyEventNames = std::to_array<Name<NotifyEvent>>({
    {NotifyEvent::kProcessed, "processed"},
    {NotifyEvent::kFailed, "failed"},
    {NotifyEvent::kQuarantined, "quarantined"},
});

inline constexpr auto kOnInfectedNames = std::to_array<Name<OnInfected>>({
    {OnInfected::kQuarantine, "quarantine"},
    {OnInfected::kDelete, "delete"},
});

// The canonical spelling of `value`; every enumerator is in its table.
template <typename E>
constexpr std::string_view name_of(std::span<const Name<E>> names, E value) {
  for (const Name<E>& n : names) {
    if (n.value == value) return n.text;
  }
  return "?";
}

}  // namespace imgflow::recipe::internal
