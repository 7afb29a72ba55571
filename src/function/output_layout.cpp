#include "function/output_layout.h"

namespace imgflow::function {
namespace {

constexpr std::size_t kHashDigits = 16;  // 64 bits: no two outputs of one key path collide

}  // namespace

OutputLayout::OutputLayout(std::string_view key_template, std::string_view prefix,
                           std::string_view source_key)
    : key_template_(key_template),
      prefix_(prefix),
      folder_end_(key_template.rfind('/')),
      has_dir_(source_key.find('/') != std::string_view::npos) {
  if (!prefix_.empty() && !prefix_.ends_with('/')) prefix_ += '/';
  const std::size_t slash = source_key.rfind('/');
  dir_ = has_dir_ ? std::string(source_key.substr(0, slash)) : "";
  file_ = std::string(has_dir_ ? source_key.substr(slash + 1) : source_key);
  // A leading dot starts a hidden file's name, not its extension.
  const std::size_t dot = file_.rfind('.');
  name_ = dot == std::string::npos || dot == 0 ? file_ : file_.substr(0, dot);
}

std::string OutputLayout::variant_key(std::string_view variant, std::string_view ext,
                                      std::string_view content_sha256) const {
  return prefix_ + render(key_template_, variant, ext, content_sha256.substr(0, kHashDigits));
}

std::string OutputLayout::manifest_key() const {
  const std::string_view folder =
      std::string_view(key_template_).substr(0, folder_end_ == std::string::npos ? 0 : folder_end_);
  return prefix_ + render(folder, "", "", "") + "/manifest.json";
}

std::string OutputLayout::render(std::string_view part, std::string_view variant,
                                 std::string_view ext, std::string_view hash) const {
  std::string key;
  for (std::size_t i = 0; i < part.size(); ++i) {
    const std::size_t close = part[i] == '{' ? part.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      key += part[i];
      continue;
    }
    const std::string_view field = part.substr(i + 1, close - i - 1);
    i = close;
    if (field == "dir") {
      key += dir_;
      // A key at the root has no directory: "{dir}/{file}" is then just the file.
      if (!has_dir_ && i + 1 < part.size() && part[i + 1] == '/') ++i;
    } else if (field == "file") {
      key += file_;
    } else if (field == "name") {
      key += name_;
    } else if (field == "variant") {
      key += variant;
    } else if (field == "ext") {
      key += ext;
    } else if (field == "hash") {
      key += hash;
    } else {
      key += part.substr(i - field.size() - 1, field.size() + 2);  // the recipe checked names
    }
  }
  return key;
}

}  // namespace imgflow::function
