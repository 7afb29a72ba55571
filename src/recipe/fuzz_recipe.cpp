// libFuzzer target: parse_recipe must turn any bytes into a Recipe or an Error, never crash,
// throw or hang. Fuzz (fuzz preset): recipe_fuzzer -max_len=4096 new-corpus/ fuzz/corpus/recipe/
// (ctest replays the corpus through fuzz/replay_main.cpp in every build).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "recipe/recipe.h"

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A directory that does not exist, so relative watermark paths never read real files.
  const auto recipe = imgflow::recipe::parse_recipe(text, "/nonexistent-imgflow-fuzz/r.yaml");
  if (recipe) {
    // What the engine does with every accepted recipe.
    (void)recipe->hash();
    (void)recipe->largest();
  } else if (recipe.error().message.empty()) {
    __builtin_trap();  // every error must say what is wrong
  }
  return 0;
}
