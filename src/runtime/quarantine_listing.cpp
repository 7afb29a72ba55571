#include "runtime/quarantine_listing.h"

#include <algorithm>
#include <utility>

#include "function/handler.h"

namespace imgflow::runtime {
namespace {

// "<source key>@<ETag>" → "<source key>": an ETag has no '@', a key may.
std::string source_key_of(const std::string& key) {
  const std::size_t at = key.rfind('@');
  return at == std::string::npos ? key : key.substr(0, at);
}

}  // namespace

core::Result<Quarantine> list_quarantine(storage::ObjectStore& store, const std::string& bucket,
                                         std::size_t max) {
  Quarantine quarantine{bucket, {}, false};
  storage::ListOptions options;
  while (quarantine.uploads.size() < max) {
    options.max_keys = static_cast<int>(
        std::min(max - quarantine.uploads.size(), static_cast<std::size_t>(storage::kMaxListKeys)));
    auto page = store.list(bucket, options);
    if (!page) {
      if (storage::detail_of(page.error()) == storage::ErrorDetail::kNoSuchBucket) {
        return quarantine;
      }
      return core::fail(page.error());
    }
    for (const storage::ObjectInfo& listed : page->objects) {
      auto info = store.head(bucket, listed.key);
      if (!info) {
        if (storage::detail_of(info.error()) == storage::ErrorDetail::kNoSuchKey) continue;  // gone
        return core::fail(info.error());
      }
      const auto signature = info->user_metadata.find(std::string(function::kStampSignature));
      quarantine.uploads.push_back({info->key, source_key_of(info->key),
                                    signature == info->user_metadata.end() ? "" : signature->second,
                                    info->size, info->last_modified});
    }
    if (!page->is_truncated) return quarantine;
    options.continuation_token = page->next_continuation_token;
  }
  quarantine.truncated = true;
  return quarantine;
}

}  // namespace imgflow::runtime
