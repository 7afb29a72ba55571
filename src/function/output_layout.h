#pragma once

#include <string>
#include <string_view>

// Where one source's outputs go: the recipe's key template rendered for the source's key.
namespace imgflow::function {

// The output keys of one source. A template the recipe accepted has a folder part that renders
// as the source key itself (a fixed prefix, then {dir}/{file}), so two distinct sources never
// share an output key, and each source's manifest.json sits in its own folder.
//
// Placeholders: {dir} is the source key's directory (at the root it renders as nothing, and the
// '/' after it is dropped), {file} the part after the last '/', {name} that without its
// extension, {variant}, {ext} (the output format's), {hash} (16 hex digits of the output's
// SHA-256). Nothing else is collapsed or rewritten: keys with empty segments ("a//b.jpg",
// "/x.jpg") keep them, so they stay apart from "a/b.jpg" and "x.jpg".
class OutputLayout {
 public:
  // `prefix` is prepended with a '/' ("" = none; a trailing '/' is not doubled). `source_key` is
  // the object key, or for local files the path relative to the output directory.
  OutputLayout(std::string_view key_template, std::string_view prefix, std::string_view source_key);

  // `content_sha256`: the output's hex SHA-256, of which {hash} takes the first 16 digits.
  std::string variant_key(std::string_view variant, std::string_view ext,
                          std::string_view content_sha256) const;

  // "<folder>/manifest.json": the folder of the template rendered for this source.
  std::string manifest_key() const;

 private:
  std::string render(std::string_view part, std::string_view variant, std::string_view ext,
                     std::string_view hash) const;

  std::string key_template_;
  std::string prefix_;                      // "" or ending in '/'
  std::string_view::size_type folder_end_;  // the template's last '/'
  std::string dir_;                         // before the key's last '/'
  bool has_dir_;                            // the key has a '/' at all
  std::string file_;                        // after the key's last '/'
  std::string name_;                        // file_ without its extension
};

}  // namespace imgflow::function
