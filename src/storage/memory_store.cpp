#include "storage/memory_store.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "storage/store_util.h"

namespace imgflow::storage {
namespace {

class MemoryReader final : public ObjectReader {
 public:
  MemoryReader(ObjectInfo info, std::shared_ptr<const std::string> body,
               const internal::ResolvedRange& range)
      : ObjectReader(std::move(info), range.first, range.length, range.partial),
        body_(std::move(body)),
        pos_(range.first),
        end_(range.first + range.length) {}

  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(n, end_ - pos_));
    std::memcpy(buf, body_->data() + pos_, count);
    pos_ += count;
    return count;
  }

 private:
  std::shared_ptr<const std::string> body_;
  std::uint64_t pos_;
  std::uint64_t end_;
};

// The metadata of an upload's parts, by number.
template <typename Upload>
std::map<int, PartInfo> part_infos(const Upload& upload) {
  std::map<int, PartInfo> out;
  for (const auto& [number, part] : upload.parts) out.emplace(number, part.info);
  return out;
}

// The metadata of the version `key` has in `objects` (a bucket's map), or nullptr.
template <typename Objects>
const ObjectInfo* current_info(const Objects& objects, std::string_view key) {
  const auto it = objects.find(key);
  return it == objects.end() ? nullptr : &it->second.info;
}

core::Error no_such_key(std::string_view key) {
  return make_error(ErrorDetail::kNoSuchKey,
                    "The specified key does not exist: " + std::string(key.substr(0, 200)));
}

// Reads and verifies a whole body into memory.
core::Result<std::pair<std::shared_ptr<const std::string>, std::string>> read_body(
    ByteSource& source, const std::optional<std::string>& content_md5,
    const std::optional<Checksum>& checksum, std::optional<std::uint64_t> content_length) {
  auto prepared = internal::prepare_body(content_md5, checksum, content_length);
  if (!prepared) return core::fail(prepared.error());
  internal::BodyDigest digest(checksum ? std::optional(checksum->algorithm) : std::nullopt);
  auto body = std::make_shared<std::string>();
  auto st = internal::pump(source, digest, kMaxObjectSize, [&](std::string_view chunk) {
    body->append(chunk);
    return core::Status();
  });
  if (!st) return core::fail(st.error());
  st = digest.verify(prepared->md5, prepared->checksum, prepared->content_length);
  if (!st) return core::fail(st.error());
  return std::pair(std::shared_ptr<const std::string>(std::move(body)), core::to_hex(digest.md5()));
}

}  // namespace

MemoryStore::MemoryStore(const core::Clock& clock) : clock_(clock) {}

core::Result<MemoryStore::Bucket*> MemoryStore::bucket_locked(std::string_view bucket) {
  if (auto st = validate_bucket_name(bucket); !st) return core::fail(st.error());
  auto it = buckets_.find(bucket);
  if (it == buckets_.end()) {
    return core::fail(make_error(ErrorDetail::kNoSuchBucket,
                                 "The specified bucket does not exist: " + std::string(bucket)));
  }
  return &it->second;
}

core::Status MemoryStore::create_bucket(std::string_view bucket) {
  if (auto st = internal::validate_new_bucket_name(bucket); !st) return st;
  std::lock_guard lock(mu_);
  if (buckets_.contains(bucket)) {
    return core::fail(make_error(ErrorDetail::kBucketAlreadyOwnedByYou,
                                 "The bucket already exists: " + std::string(bucket)));
  }
  buckets_.emplace(std::string(bucket), Bucket{BucketInfo{std::string(bucket), clock_.now()}, {}});
  return {};
}

core::Status MemoryStore::delete_bucket(std::string_view bucket) {
  std::lock_guard lock(mu_);
  auto b = bucket_locked(bucket);
  if (!b) return core::fail(b.error());
  expire_uploads_locked();
  if (!(*b)->objects.empty()) {
    return core::fail(
        make_error(ErrorDetail::kBucketNotEmpty,
                   "The bucket you tried to delete is not empty: " + std::string(bucket)));
  }
  for (const auto& [id, upload] : uploads_) {
    if (upload.bucket == bucket) {
      return core::fail(make_error(ErrorDetail::kBucketNotEmpty,
                                   "The bucket you tried to delete has multipart uploads in "
                                   "progress: " +
                                       std::string(bucket)));
    }
  }
  std::erase_if(completed_, [&](const auto& entry) { return entry.second.bucket == bucket; });
  std::erase_if(completed_order_, [&](const std::string& id) { return !completed_.contains(id); });
  buckets_.erase(buckets_.find(bucket));
  return {};
}

core::Result<BucketInfo> MemoryStore::head_bucket(std::string_view bucket) {
  std::lock_guard lock(mu_);
  auto b = bucket_locked(bucket);
  if (!b) return core::fail(b.error());
  return (*b)->info;
}

core::Result<std::vector<BucketInfo>> MemoryStore::list_buckets() {
  std::lock_guard lock(mu_);
  std::vector<BucketInfo> out;
  for (const auto& [name, bucket] : buckets_) out.push_back(bucket.info);
  return out;
}

ObjectInfo MemoryStore::commit_locked(Bucket& bucket, std::string_view key, Body body,
                                      ObjectInfo info, const std::optional<EventToRecord>& event) {
  info.key = std::string(key);
  info.size = body->size();
  info.last_modified = clock_.now();
  info.sequencer = internal::format_sequencer(++sequencer_);
  if (event) record_event_locked(bucket.info.name, info, *event);
  bucket.objects.insert_or_assign(std::string(key), Object{info, std::move(body)});
  return info;
}

void MemoryStore::record_event_locked(std::string_view bucket, const ObjectInfo& info,
                                      const EventToRecord& event) {
  const std::int64_t id = next_event_id_++;
  OutboxEvent e{id,
                event.event_name,
                std::string(bucket),
                info.key,
                info.etag,
                info.size,
                info.sequencer,
                event.payload,
                info.last_modified,
                0,
                event.in_order};
  outbox_.emplace(id, QueuedEvent{std::move(e), info.last_modified});
}

// The object an event is about, as a notice about the same object records it: now.
ObjectInfo MemoryStore::about(const OutboxEvent& event) const {
  ObjectInfo info;
  info.key = event.key;
  info.etag = event.etag;
  info.size = event.size;
  info.sequencer = event.sequencer;
  info.last_modified = clock_.now();
  return info;
}

bool MemoryStore::has_earlier_locked(const OutboxEvent& event) const {
  for (const auto& [id, queued] : outbox_) {
    if (id >= event.id) return false;
    if (queued.event.bucket == event.bucket && queued.event.key == event.key) return true;
  }
  return false;
}

core::Result<ObjectInfo> MemoryStore::put(std::string_view bucket, std::string_view key,
                                          ByteSource& body, const PutOptions& options) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  {
    std::lock_guard lock(mu_);
    if (auto b = bucket_locked(bucket); !b) return core::fail(b.error());
  }
  auto read = read_body(body, options.content_md5, options.checksum, options.content_length);
  if (!read) return core::fail(read.error());
  ObjectInfo info;
  info.etag = read->second;
  info.content_type = options.content_type;
  info.user_metadata = options.user_metadata;
  info.cache_control = options.cache_control;
  info.checksum = options.checksum;
  std::lock_guard lock(mu_);
  auto b = bucket_locked(bucket);
  if (!b) return core::fail(b.error());
  if (auto st = internal::check_write_conditions({options.if_none_match_star, options.if_match},
                                                 current_info((*b)->objects, key), key);
      !st) {
    return core::fail(st.error());
  }
  return commit_locked(**b, key, std::move(read->first), std::move(info), options.event);
}

core::Result<std::unique_ptr<ObjectReader>> MemoryStore::open(std::string_view bucket,
                                                              std::string_view key,
                                                              const GetOptions& options) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  std::lock_guard lock(mu_);
  auto b = bucket_locked(bucket);
  if (!b) return core::fail(b.error());
  auto it = (*b)->objects.find(key);
  if (it == (*b)->objects.end()) return core::fail(no_such_key(key));
  auto range = internal::resolve_range(options.range, it->second.info.size);
  if (!range) return core::fail(range.error());
  return std::unique_ptr<ObjectReader>(
      std::make_unique<MemoryReader>(it->second.info, it->second.body, *range));
}

core::Result<ObjectInfo> MemoryStore::head(std::string_view bucket, std::string_view key) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  std::lock_guard lock(mu_);
  auto b = bucket_locked(bucket);
  if (!b) return core::fail(b.error());
  auto it = (*b)->objects.find(key);
  if (it == (*b)->objects.end()) return core::fail(no_such_key(key));
  return it->second.info;
}

core::Status MemoryStore::delete_object(std::string_view bucket, std::string_view key,
                                        const DeleteOptions& options) {
  if (auto st = internal::validate_key(key); !st) return st;
  std::lock_guard lock(mu_);
  auto b = bucket_locked(bucket);
  if (!b) return core::fail(b.error());
  auto it = (*b)->objects.find(key);
  if (it == (*b)->objects.end()) return {};
  if (options.event) record_event_locked((*b)->info.name, it->second.info, *options.event);
  (*b)->objects.erase(it);
  return {};
}

core::Result<ListResult> MemoryStore::list(std::string_view bucket, const ListOptions& options) {
  std::lock_guard lock(mu_);
  auto b = bucket_locked(bucket);
  if (!b) return core::fail(b.error());
  const auto& objects = (*b)->objects;
  return internal::list_objects(
      options, [&](const std::string& after, const std::string& lower, std::size_t limit) {
        std::vector<ObjectInfo> out;
        auto it = after < lower ? objects.lower_bound(lower) : objects.upper_bound(after);
        for (; it != objects.end() && out.size() < limit; ++it) out.push_back(it->second.info);
        return core::Result<std::vector<ObjectInfo>>(std::move(out));
      });
}

core::Result<ObjectInfo> MemoryStore::copy(std::string_view src_bucket, std::string_view src_key,
                                           std::string_view dst_bucket, std::string_view dst_key,
                                           const CopyOptions& options) {
  if (auto st = internal::validate_key(src_key); !st) return core::fail(st.error());
  if (auto st = internal::validate_key(dst_key); !st) return core::fail(st.error());
  if (src_bucket == dst_bucket && src_key == dst_key && !options.replace_metadata) {
    return core::fail(make_error(ErrorDetail::kInvalidRequest,
                                 "This copy request is illegal because it is trying to copy an "
                                 "object to itself without changing the object's metadata."));
  }
  std::lock_guard lock(mu_);
  auto src = bucket_locked(src_bucket);
  if (!src) return core::fail(src.error());
  auto dst = bucket_locked(dst_bucket);
  if (!dst) return core::fail(dst.error());
  auto it = (*src)->objects.find(src_key);
  if (it == (*src)->objects.end()) return core::fail(no_such_key(src_key));
  if (options.if_none_match_star && (*dst)->objects.contains(dst_key)) {
    return core::fail(make_error(ErrorDetail::kPreconditionFailed,
                                 "If-None-Match: * and the destination key exists"));
  }
  const Object source = it->second;
  ObjectInfo info;
  info.etag = core::to_hex(core::md5(*source.body));
  info.checksum = source.info.checksum;
  if (options.replace_metadata) {
    info.content_type = options.content_type;
    info.user_metadata = options.user_metadata;
    info.cache_control = options.cache_control;
  } else {
    info.content_type = source.info.content_type;
    info.user_metadata = source.info.user_metadata;
    info.cache_control = source.info.cache_control;
  }
  return commit_locked(**dst, dst_key, source.body, std::move(info), options.event);
}

core::Result<std::string> MemoryStore::create_multipart_upload(std::string_view bucket,
                                                               std::string_view key,
                                                               const MultipartOptions& options) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  std::lock_guard lock(mu_);
  if (auto b = bucket_locked(bucket); !b) return core::fail(b.error());
  expire_uploads_locked();
  if (options.max_uploads_per_initiator > 0) {
    const auto open = std::count_if(uploads_.begin(), uploads_.end(), [&](const auto& entry) {
      return entry.second.bucket == bucket && entry.second.options.initiator == options.initiator;
    });
    if (open >= options.max_uploads_per_initiator) {
      return core::fail(internal::too_many_uploads(static_cast<int>(open)));
    }
  }
  std::string id = internal::random_id();
  uploads_.emplace(id, Upload{std::string(bucket), std::string(key), options, {}, clock_.now()});
  return id;
}

void MemoryStore::expire_uploads_locked() {
  const auto now = clock_.now();
  std::erase_if(uploads_, [now](const auto& entry) {
    return entry.second.options.expires && *entry.second.options.expires <= now;
  });
}

core::Result<MemoryStore::Upload*> MemoryStore::upload_locked(std::string_view bucket,
                                                              std::string_view key,
                                                              std::string_view upload_id) {
  if (auto b = bucket_locked(bucket); !b) return core::fail(b.error());
  auto it = uploads_.find(upload_id);
  const auto expires = it == uploads_.end() ? std::nullopt : it->second.options.expires;
  if (it == uploads_.end() || it->second.bucket != bucket || it->second.key != key ||
      (expires && *expires <= clock_.now())) {
    return core::fail(make_error(
        ErrorDetail::kNoSuchUpload,
        "The specified multipart upload does not exist: " + std::string(upload_id.substr(0, 100))));
  }
  return &it->second;
}

core::Result<PartInfo> MemoryStore::upload_part(std::string_view bucket, std::string_view key,
                                                std::string_view upload_id, int part_number,
                                                ByteSource& body, const PartOptions& options) {
  if (auto st = internal::validate_part_number(part_number); !st) return core::fail(st.error());
  {
    std::lock_guard lock(mu_);
    auto u = upload_locked(bucket, key, upload_id);
    if (!u) return core::fail(u.error());
    if (options.max_upload_bytes && options.content_length) {  // fail before reading the body
      if (auto st = internal::check_upload_budget(
              part_infos(**u), part_number, *options.content_length, *options.max_upload_bytes);
          !st) {
        return core::fail(st.error());
      }
    }
  }
  auto read = read_body(body, options.content_md5, options.checksum, options.content_length);
  if (!read) return core::fail(read.error());
  std::lock_guard lock(mu_);
  auto u = upload_locked(bucket, key, upload_id);
  if (!u) return core::fail(u.error());
  if (options.max_upload_bytes) {
    if (auto st = internal::check_upload_budget(part_infos(**u), part_number, read->first->size(),
                                                *options.max_upload_bytes);
        !st) {
      return core::fail(st.error());
    }
  }
  PartInfo info{part_number, read->first->size(), read->second, clock_.now()};
  (*u)->parts.insert_or_assign(part_number, Part{info, std::move(read->first)});
  return info;
}

core::Result<ObjectInfo> MemoryStore::complete_multipart_upload(
    std::string_view bucket, std::string_view key, std::string_view upload_id,
    const std::vector<CompletedPart>& parts, const CompleteOptions& options) {
  std::lock_guard lock(mu_);
  auto u = upload_locked(bucket, key, upload_id);
  if (!u && detail_of(u.error()) == ErrorDetail::kNoSuchUpload) {
    const auto done = completed_.find(upload_id);
    if (done != completed_.end() && done->second.bucket == bucket && done->second.key == key) {
      return done->second.info;  // a retry: answered as the first time
    }
  }
  if (!u) return core::fail(u.error());
  auto etag = internal::check_completed_parts(parts, part_infos(**u));
  if (!etag) return core::fail(etag.error());
  auto b = bucket_locked(bucket);
  if (auto st = internal::check_write_conditions({options.if_none_match_star, options.if_match},
                                                 current_info((*b)->objects, key), key);
      !st) {
    return core::fail(st.error());
  }
  auto body = std::make_shared<std::string>();
  for (const auto& part : parts) body->append(*(*u)->parts.at(part.part_number).body);
  ObjectInfo info;
  info.etag = *etag;
  info.content_type = (*u)->options.content_type;
  info.user_metadata = (*u)->options.user_metadata;
  info.cache_control = (*u)->options.cache_control;
  uploads_.erase(uploads_.find(upload_id));
  ObjectInfo committed = commit_locked(**b, key, std::move(body), std::move(info), options.event);
  remember_completed_locked(upload_id, bucket, committed);
  return committed;
}

void MemoryStore::remember_completed_locked(std::string_view upload_id, std::string_view bucket,
                                            const ObjectInfo& info) {
  completed_.insert_or_assign(std::string(upload_id),
                              Completed{std::string(bucket), info.key, info});
  completed_order_.emplace_back(upload_id);
  while (completed_order_.size() > kRememberedCompletions) {
    completed_.erase(completed_order_.front());
    completed_order_.pop_front();
  }
}

core::Status MemoryStore::abort_multipart_upload(std::string_view bucket, std::string_view key,
                                                 std::string_view upload_id) {
  std::lock_guard lock(mu_);
  auto u = upload_locked(bucket, key, upload_id);
  if (!u) return core::fail(u.error());
  uploads_.erase(uploads_.find(upload_id));
  return {};
}

core::Result<std::vector<PartInfo>> MemoryStore::list_parts(std::string_view bucket,
                                                            std::string_view key,
                                                            std::string_view upload_id) {
  std::lock_guard lock(mu_);
  auto u = upload_locked(bucket, key, upload_id);
  if (!u) return core::fail(u.error());
  std::vector<PartInfo> out;
  for (const auto& [number, part] : (*u)->parts) out.push_back(part.info);
  return out;
}

core::Result<ListUploadsResult> MemoryStore::list_multipart_uploads(
    std::string_view bucket, const ListUploadsOptions& options) {
  std::lock_guard lock(mu_);
  if (auto b = bucket_locked(bucket); !b) return core::fail(b.error());
  expire_uploads_locked();
  std::vector<UploadInfo> all;
  for (const auto& [id, upload] : uploads_) {
    if (upload.bucket == bucket) {
      all.push_back({upload.key, id, upload.initiated, upload.options.initiator});
    }
  }
  std::sort(all.begin(), all.end(), [](const UploadInfo& a, const UploadInfo& b) {
    return std::tie(a.key, a.upload_id) < std::tie(b.key, b.upload_id);
  });
  return internal::page_uploads(all, options);
}

core::Result<std::vector<OutboxEvent>> MemoryStore::claim(
    std::size_t max_events, std::chrono::milliseconds visibility_timeout) {
  std::lock_guard lock(mu_);
  const auto now = clock_.now();
  std::vector<OutboxEvent> out;
  for (auto& [id, queued] : outbox_) {
    if (out.size() >= max_events) break;
    if (queued.visible_at > now) continue;
    if (queued.event.in_order && has_earlier_locked(queued.event)) continue;
    queued.visible_at = now + visibility_timeout;
    ++queued.event.attempts;
    out.push_back(queued.event);
  }
  return out;
}

core::Status MemoryStore::ack(std::int64_t id) {
  std::lock_guard lock(mu_);
  outbox_.erase(id);
  return {};
}

core::Status MemoryStore::ack(std::int64_t id, const EventToRecord& notice) {
  std::lock_guard lock(mu_);
  auto it = outbox_.find(id);
  if (it == outbox_.end()) return {};
  const OutboxEvent acked = std::move(it->second.event);
  outbox_.erase(it);
  record_event_locked(acked.bucket, about(acked), notice);
  return {};
}

core::Status MemoryStore::nack(std::int64_t id, std::chrono::milliseconds retry_after) {
  std::lock_guard lock(mu_);
  auto it = outbox_.find(id);
  if (it == outbox_.end()) {
    return core::fail(core::ErrorCode::kNotFound,
                      "no outbox event " + std::to_string(id) + " (already acked?)");
  }
  it->second.visible_at = clock_.now() + retry_after;
  return {};
}

core::Result<std::uint64_t> MemoryStore::count_pending() {
  std::lock_guard lock(mu_);
  return static_cast<std::uint64_t>(outbox_.size());
}

core::Status MemoryStore::add_dead_letter(const DeadLetter& letter,
                                          const std::optional<EventToRecord>& notice) {
  std::lock_guard lock(mu_);
  outbox_.erase(letter.id);
  dead_letters_.insert_or_assign(letter.id, letter);
  if (notice) record_event_locked(letter.event.bucket, about(letter.event), *notice);
  return {};
}

core::Result<std::vector<DeadLetter>> MemoryStore::list_dead_letters() {
  std::lock_guard lock(mu_);
  std::vector<DeadLetter> out;
  out.reserve(dead_letters_.size());
  for (const auto& [id, letter] : dead_letters_) out.push_back(letter);
  return out;
}

core::Result<DeadLetter> MemoryStore::get_dead_letter(std::int64_t id) {
  std::lock_guard lock(mu_);
  auto it = dead_letters_.find(id);
  if (it == dead_letters_.end()) {
    return core::fail(core::ErrorCode::kNotFound, "no dead letter " + std::to_string(id));
  }
  return it->second;
}

core::Status MemoryStore::remove_dead_letter(std::int64_t id) {
  std::lock_guard lock(mu_);
  dead_letters_.erase(id);
  return {};
}

core::Result<std::uint64_t> MemoryStore::count_dead_letters() {
  std::lock_guard lock(mu_);
  return static_cast<std::uint64_t>(dead_letters_.size());
}

core::Result<std::int64_t> MemoryStore::redrive(std::int64_t id) {
  std::lock_guard lock(mu_);
  auto it = dead_letters_.find(id);
  if (it == dead_letters_.end()) {
    return core::fail(core::ErrorCode::kNotFound, "no dead letter " + std::to_string(id));
  }
  const auto now = clock_.now();
  OutboxEvent event = std::move(it->second.event);
  dead_letters_.erase(it);
  event.id = next_event_id_++;
  event.created = now;
  event.attempts = 0;
  outbox_.emplace(event.id, QueuedEvent{event, now});
  return event.id;
}

}  // namespace imgflow::storage
