#include "storage/store_util.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/codec.h"
#include "core/text.h"

namespace imgflow::storage::internal {
namespace {

std::size_t digest_size(ChecksumAlgorithm algorithm) {
  return algorithm == ChecksumAlgorithm::kSha256 ? 32 : 4;
}

std::string_view strip_quotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

}  // namespace

core::Status validate_new_bucket_name(std::string_view bucket) {
  if (auto st = validate_bucket_name(bucket); !st) return st;
  // Reserved for punycode hostnames, S3 endpoints, examples, access point and directory or
  // table bucket aliases.
  constexpr std::string_view kReservedPrefixes[] = {"xn--", "sthree-", "amzn-s3-demo-"};
  constexpr std::string_view kReservedSuffixes[] = {"-s3alias", "--ol-s3", ".mrap", "--x-s3",
                                                    "--table-s3"};
  for (const std::string_view prefix : kReservedPrefixes) {
    if (bucket.starts_with(prefix)) {
      return core::fail(make_error(ErrorDetail::kInvalidBucketName,
                                   "bucket names may not start with '" + std::string(prefix) +
                                       "' (reserved by S3): '" + std::string(bucket) + "'"));
    }
  }
  for (const std::string_view suffix : kReservedSuffixes) {
    if (bucket.ends_with(suffix)) {
      return core::fail(make_error(ErrorDetail::kInvalidBucketName,
                                   "bucket names may not end with '" + std::string(suffix) +
                                       "' (reserved by S3): '" + std::string(bucket) + "'"));
    }
  }
  return {};
}

core::Status validate_key(std::string_view key) {
  if (key.empty()) {
    return core::fail(make_error(ErrorDetail::kInvalidArgument, "the object key is empty"));
  }
  if (key.size() > kMaxKeyBytes) {
    return core::fail(make_error(
        ErrorDetail::kKeyTooLongError,
        "object keys are at most 1024 bytes; this one has " + std::to_string(key.size())));
  }
  if (!core::is_valid_utf8(key)) {
    return core::fail(
        make_error(ErrorDetail::kInvalidArgument, "the object key is not valid UTF-8"));
  }
  return {};
}

core::Status check_write_conditions(const WriteConditions& conditions, const ObjectInfo* current,
                                    std::string_view key) {
  if (current != nullptr && conditions.if_none_match_star) {
    return core::fail(make_error(ErrorDetail::kPreconditionFailed,
                                 "At least one of the pre-conditions you specified did not hold "
                                 "(If-None-Match: * and the key exists)"));
  }
  if (!conditions.if_match) return {};
  if (current == nullptr) {
    return core::fail(make_error(ErrorDetail::kNoSuchKey,
                                 "The specified key does not exist (If-Match needs a version to "
                                 "replace): " +
                                     std::string(key.substr(0, 200))));
  }
  if (*conditions.if_match != "*" && strip_quotes(*conditions.if_match) != current->etag) {
    return core::fail(make_error(ErrorDetail::kPreconditionFailed,
                                 "At least one of the pre-conditions you specified did not hold "
                                 "(If-Match: the object has another ETag)"));
  }
  return {};
}

core::Result<std::optional<core::Md5Digest>> parse_content_md5(
    const std::optional<std::string>& content_md5) {
  if (!content_md5) return std::optional<core::Md5Digest>();
  auto raw = core::base64_decode(*content_md5);
  if (!raw || raw->size() != 16) {
    return core::fail(make_error(ErrorDetail::kInvalidDigest,
                                 "Content-MD5 must be the base64 of a 16-byte MD5 digest"));
  }
  core::Md5Digest digest{};
  std::memcpy(digest.data(), raw->data(), digest.size());
  return std::optional<core::Md5Digest>(digest);
}

core::Status validate_checksum(const std::optional<Checksum>& checksum) {
  if (!checksum) return {};
  auto raw = core::base64_decode(checksum->base64);
  if (!raw || raw->size() != digest_size(checksum->algorithm)) {
    return core::fail(
        make_error(ErrorDetail::kInvalidRequest, "Value for x-amz-checksum-" +
                                                     std::string(to_string(checksum->algorithm)) +
                                                     " header is invalid."));
  }
  return {};
}

core::Result<PreparedBody> prepare_body(const std::optional<std::string>& content_md5,
                                        const std::optional<Checksum>& checksum,
                                        std::optional<std::uint64_t> content_length) {
  auto md5 = parse_content_md5(content_md5);
  if (!md5) return core::fail(md5.error());
  if (auto st = validate_checksum(checksum); !st) return core::fail(st.error());
  if (content_length && *content_length > kMaxObjectSize) {
    return core::fail(make_error(ErrorDetail::kEntityTooLarge,
                                 "the body is larger than the 5 GiB maximum of one upload"));
  }
  return PreparedBody{*md5, checksum, content_length};
}

BodyDigest::BodyDigest(std::optional<ChecksumAlgorithm> algorithm) : algorithm_(algorithm) {}

void BodyDigest::update(std::string_view chunk) {
  size_ += chunk.size();
  md5_hasher_.update(chunk);
  if (!algorithm_) return;
  switch (*algorithm_) {
    case ChecksumAlgorithm::kCrc32:
      crc_ = core::crc32(chunk, crc_);
      break;
    case ChecksumAlgorithm::kCrc32c:
      crc_ = core::crc32c(chunk, crc_);
      break;
    case ChecksumAlgorithm::kSha256:
      sha256_hasher_.update(chunk);
      break;
  }
}

core::Status BodyDigest::verify(const std::optional<core::Md5Digest>& expected_md5,
                                const std::optional<Checksum>& expected_checksum,
                                std::optional<std::uint64_t> content_length) {
  md5_ = md5_hasher_.finish();
  if (content_length && *content_length != size_) {
    return core::fail(
        make_error(ErrorDetail::kIncompleteBody, "the body has " + std::to_string(size_) +
                                                     " bytes but Content-Length said " +
                                                     std::to_string(*content_length)));
  }
  if (expected_md5 && *expected_md5 != md5_) {
    return core::fail(make_error(ErrorDetail::kBadDigest,
                                 "The Content-MD5 you specified did not match what we received."));
  }
  if (expected_checksum && algorithm_) {
    const std::string actual = *algorithm_ == ChecksumAlgorithm::kSha256
                                   ? core::base64_encode(sha256_hasher_.finish())
                                   : core::base64_encode(core::be32_bytes(crc_));
    if (actual != expected_checksum->base64) {
      return core::fail(make_error(ErrorDetail::kBadDigest,
                                   "The " + std::string(to_string(*algorithm_)) +
                                       " you specified did not match the calculated checksum."));
    }
  }
  return {};
}

namespace {

// Fills `buf` from `source` until it is full or the source ends; returns the bytes read.
core::Result<std::size_t> fill(ByteSource& source, char* buf, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    auto n = source.read(buf + got, size - got);
    if (!n) return core::fail(n.error());
    if (*n == 0) break;
    got += *n;
  }
  return got;
}

// Feeds a BodyDigest on its own thread, chunk by chunk in submission order. MD5 hashes about
// as fast as a socket delivers and a file takes bytes (~0.75 GB/s), so hashing one chunk while
// the next is received and written takes the hash off a large upload's critical path. The
// caller keeps each submitted chunk's bytes unchanged until it is hashed (wait_pending_below).
class DigestThread {
 public:
  explicit DigestThread(BodyDigest& digest) : digest_(digest), thread_([this] { run(); }) {}
  DigestThread(const DigestThread&) = delete;
  DigestThread& operator=(const DigestThread&) = delete;
  ~DigestThread() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  void submit(std::string_view chunk) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(chunk);
      ++submitted_;
    }
    wake_.notify_all();
  }

  // Blocks until fewer than `count` submitted chunks wait to be hashed.
  void wait_pending_below(std::uint64_t count) {
    std::unique_lock lock(mu_);
    wake_.wait(lock, [&] { return submitted_ - hashed_ < count; });
  }
  void wait_all() { wait_pending_below(1); }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, nothing left
      const std::string_view chunk = queue_.front();
      queue_.pop_front();
      lock.unlock();
      digest_.update(chunk);
      lock.lock();
      ++hashed_;
      wake_.notify_all();
    }
  }

  BodyDigest& digest_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::string_view> queue_;
  std::uint64_t submitted_ = 0;
  std::uint64_t hashed_ = 0;
  bool closing_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

core::Status too_large(std::uint64_t max_size) {
  return core::fail(
      make_error(ErrorDetail::kEntityTooLarge,
                 "the body is larger than the maximum of " + std::to_string(max_size) + " bytes"));
}

// Pieces small enough that receiving, writing and hashing one stays in the core's cache: with
// 1 MiB pieces the digest thread read each one back from memory and the overlap was lost.
constexpr std::size_t kPieceSize = 128 << 10;
constexpr std::size_t kPieces = 4;  // in flight between this thread and the digest thread

// Bodies being pumped right now in this process (each overlapped one keeps two threads busy).
std::atomic<int> bodies_in_flight{0};

bool core_to_spare() {
  static const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  return 2 * bodies_in_flight.load(std::memory_order_relaxed) <= cores;
}

class CountedInFlight {
 public:
  CountedInFlight() { bodies_in_flight.fetch_add(1, std::memory_order_relaxed); }
  CountedInFlight(const CountedInFlight&) = delete;
  CountedInFlight& operator=(const CountedInFlight&) = delete;
  ~CountedInFlight() { bodies_in_flight.fetch_sub(1, std::memory_order_relaxed); }
};

// Hashes and writes each read as it arrives, on the caller's thread.
core::Status pump_inline(ByteSource& source, BodyDigest& digest, std::uint64_t max_size,
                         const std::function<core::Status(std::string_view)>& write) {
  const auto buffer = std::make_unique_for_overwrite<char[]>(kChunkSize);  // read() fills it
  std::uint64_t total = 0;
  for (;;) {
    auto got = source.read(buffer.get(), kChunkSize);
    if (!got) return core::fail(got.error());
    if (*got == 0) return {};
    total += *got;
    if (total > max_size) return too_large(max_size);
    const std::string_view chunk(buffer.get(), *got);
    digest.update(chunk);
    if (auto st = write(chunk); !st) return st;
  }
}

// Reads pieces into a ring of buffers and writes each as it fills; once the body is longer
// than one piece, a digest thread hashes each written piece while the next is received. A
// buffer is reused only once its piece is hashed.
core::Status pump_overlapped(ByteSource& source, BodyDigest& digest, std::uint64_t max_size,
                             const std::function<core::Status(std::string_view)>& write) {
  std::array<std::unique_ptr<char[]>, kPieces> buffers;  // allocated on first use, uninitialised
  std::optional<DigestThread> hasher;  // declared after the buffers: joins before they go
  std::uint64_t total = 0;
  std::size_t slot = 0;  // the buffer the next piece goes into
  for (;;) {
    auto& buffer = buffers[slot];
    if (!buffer) buffer = std::make_unique_for_overwrite<char[]>(kPieceSize);
    // The pieces still waiting for the hasher sit in the buffers before `slot`.
    if (hasher) hasher->wait_pending_below(kPieces);
    auto got = fill(source, buffer.get(), kPieceSize);
    if (!got) return core::fail(got.error());
    if (*got == 0) break;
    total += *got;
    if (total > max_size) return too_large(max_size);
    const std::string_view piece(buffer.get(), *got);
    if (auto st = write(piece); !st) return st;
    const bool last = *got < kPieceSize;  // fill() stops short only at the end of the source
    if (!hasher && !last) hasher.emplace(digest);
    if (!hasher) {
      digest.update(piece);  // the whole body fit one piece
      break;
    }
    hasher->submit(piece);
    slot = (slot + 1) % kPieces;
    if (last) break;
  }
  if (hasher) hasher->wait_all();
  return {};
}

}  // namespace

// The digest thread pays only when a core would otherwise idle: with more bodies in flight
// than half the cores, it measured 10-15% slower than hashing inline (and inline, writing each
// read as it arrives beat gathering fixed pieces).
core::Status pump(ByteSource& source, BodyDigest& digest, std::uint64_t max_size,
                  const std::function<core::Status(std::string_view)>& write) {
  const CountedInFlight counted;
  if (core_to_spare()) return pump_overlapped(source, digest, max_size, write);
  return pump_inline(source, digest, max_size, write);
}

core::Result<ResolvedRange> resolve_range(const std::optional<ByteRange>& range,
                                          std::uint64_t size) {
  if (!range) return ResolvedRange{0, size, false};
  auto unsatisfiable = [size] {
    return core::fail(make_error(ErrorDetail::kInvalidRange,
                                 "The requested range is not satisfiable; the object has " +
                                     std::to_string(size) + " bytes"));
  };
  if (!range->first) {  // suffix: the last N bytes
    const std::uint64_t n = range->last.value_or(0);
    if (n == 0 || size == 0) return unsatisfiable();
    const std::uint64_t length = std::min(n, size);
    return ResolvedRange{size - length, length, true};
  }
  const std::uint64_t first = *range->first;
  if (first >= size) return unsatisfiable();
  std::uint64_t last = range->last.value_or(size - 1);
  if (last < first) return unsatisfiable();
  last = std::min(last, size - 1);
  return ResolvedRange{first, last - first + 1, true};
}

core::Result<ListResult> list_objects(const ListOptions& options, const FetchObjects& fetch) {
  if (options.max_keys < 0) {
    return core::fail(make_error(ErrorDetail::kInvalidArgument, "max-keys must not be negative"));
  }
  const int max_keys = std::min(options.max_keys, kMaxListKeys);
  std::string cursor = options.start_after;
  if (!options.continuation_token.empty()) {
    auto decoded = core::base64_decode(options.continuation_token);
    if (!decoded) {
      return core::fail(make_error(ErrorDetail::kInvalidArgument,
                                   "The continuation token provided is incorrect"));
    }
    cursor = std::move(*decoded);
  }
  ListResult result;
  if (max_keys == 0) return result;
  const std::string& prefix = options.prefix;
  const std::size_t batch = static_cast<std::size_t>(max_keys) + 1;
  while (true) {
    auto objects = fetch(cursor, prefix, batch);
    if (!objects) return core::fail(objects.error());
    for (auto& object : *objects) {
      if (!object.key.starts_with(prefix)) return result;
      if (object.key <= cursor) continue;  // inside a common prefix already emitted
      if (result.key_count == max_keys) {
        result.is_truncated = true;
        result.next_continuation_token = core::base64_encode(cursor);
        return result;
      }
      ++result.key_count;
      const auto pos = options.delimiter.empty()
                           ? std::string::npos
                           : object.key.find(options.delimiter, prefix.size());
      if (pos == std::string::npos) {
        cursor = object.key;
        result.objects.push_back(std::move(object));
      } else {
        std::string common = object.key.substr(0, pos + options.delimiter.size());
        // 0xFF never occurs in UTF-8, so this sorts after every key under `common`.
        cursor = common + '\xFF';
        result.common_prefixes.push_back(std::move(common));
      }
    }
    if (objects->size() < batch) return result;
  }
}

std::string multipart_etag(const std::vector<std::string>& part_etags) {
  std::string concatenated;
  for (const auto& etag : part_etags) {
    auto raw = core::from_hex(etag);
    concatenated += raw.value_or(std::string());
  }
  return core::to_hex(core::md5(concatenated)) + "-" + std::to_string(part_etags.size());
}

core::Result<std::string> check_completed_parts(const std::vector<CompletedPart>& parts,
                                                const std::map<int, PartInfo>& uploaded) {
  if (parts.empty()) {
    return core::fail(
        make_error(ErrorDetail::kInvalidRequest, "You must specify at least one part"));
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].part_number <= parts[i - 1].part_number) {
      return core::fail(make_error(ErrorDetail::kInvalidPartOrder,
                                   "The list of parts was not in ascending order."));
    }
  }
  std::vector<std::string> etags;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& part = parts[i];
    const auto it = uploaded.find(part.part_number);
    if (it == uploaded.end() || it->second.etag != strip_quotes(part.etag)) {
      return core::fail(
          make_error(ErrorDetail::kInvalidPart,
                     "Part " + std::to_string(part.part_number) +
                         " could not be found or its ETag does not match the uploaded part."));
    }
    if (i + 1 < parts.size() && it->second.size < kMinPartSize) {
      return core::fail(make_error(ErrorDetail::kEntityTooSmall,
                                   "Part " + std::to_string(part.part_number) + " has " +
                                       std::to_string(it->second.size) +
                                       " bytes; every part but the last needs at least 5 MiB."));
    }
    etags.push_back(it->second.etag);
  }
  return multipart_etag(etags);
}

core::Result<ListUploadsResult> page_uploads(const std::vector<UploadInfo>& sorted,
                                             const ListUploadsOptions& options) {
  if (options.max_uploads < 0) {
    return core::fail(
        make_error(ErrorDetail::kInvalidArgument, "max-uploads must not be negative"));
  }
  const auto limit = static_cast<std::size_t>(std::min(options.max_uploads, kMaxListKeys));
  const bool has_id_marker = !options.key_marker.empty() && !options.upload_id_marker.empty();
  const auto after_markers = [&](const UploadInfo& u) {
    if (options.key_marker.empty() || u.key > options.key_marker) return true;
    return has_id_marker && u.key == options.key_marker && u.upload_id > options.upload_id_marker;
  };
  // The common prefix `key` is rolled up into, or "" when it is listed itself.
  const auto rolled_up = [&](const std::string& key) {
    if (options.delimiter.empty()) return std::string();
    const std::size_t pos = key.find(options.delimiter, options.prefix.size());
    return pos == std::string::npos ? std::string() : key.substr(0, pos + options.delimiter.size());
  };
  // Listed already: just before on this page, or on an earlier one (the marker is the prefix,
  // or a key under it).
  const auto listed = [&](const ListUploadsResult& page, const std::string& common) {
    return (!page.common_prefixes.empty() && page.common_prefixes.back() == common) ||
           (!options.key_marker.empty() && common <= options.key_marker);
  };
  ListUploadsResult result;
  std::size_t entries = 0;
  bool ends_with_prefix = false;
  for (const UploadInfo& u : sorted) {
    if (!u.key.starts_with(options.prefix) || !after_markers(u)) continue;
    std::string common = rolled_up(u.key);
    if (!common.empty() && listed(result, common)) continue;
    if (entries == limit) {
      result.is_truncated = true;
      break;
    }
    ++entries;
    ends_with_prefix = !common.empty();
    if (ends_with_prefix) {
      result.common_prefixes.push_back(std::move(common));
    } else {
      result.uploads.push_back(u);
    }
  }
  if (result.is_truncated && entries > 0) {
    if (ends_with_prefix) {
      result.next_key_marker = result.common_prefixes.back();
    } else {
      result.next_key_marker = result.uploads.back().key;
      result.next_upload_id_marker = result.uploads.back().upload_id;
    }
  }
  return result;
}

core::Status check_upload_budget(const std::map<int, PartInfo>& uploaded, int part_number,
                                 std::uint64_t part_size, std::uint64_t max_upload_bytes) {
  std::uint64_t total = part_size;
  for (const auto& [number, part] : uploaded) {
    if (number != part_number) total += part.size;
  }
  if (total <= max_upload_bytes) return {};
  return core::fail(make_error(ErrorDetail::kEntityTooLarge,
                               "Your proposed upload exceeds the maximum allowed size: the parts "
                               "of this upload may hold " +
                                   std::to_string(max_upload_bytes) + " bytes in all"));
}

core::Error too_many_uploads(int open) {
  return make_error(ErrorDetail::kSlowDown,
                    "Please reduce your request rate: " + std::to_string(open) +
                        " multipart uploads you started are in progress; complete or abort one "
                        "first");
}

core::Status validate_part_number(int part_number) {
  if (part_number >= 1 && part_number <= kMaxPartNumber) return {};
  return core::fail(make_error(ErrorDetail::kInvalidArgument,
                               "Part number must be an integer between 1 and 10000, inclusive"));
}

std::string format_sequencer(std::uint64_t value) {
  std::array<char, 17> buf{};
  std::snprintf(buf.data(), buf.size(), "%016llX", static_cast<unsigned long long>(value));
  return {buf.data(), 16};
}

std::string random_id() {
  std::array<unsigned char, 16> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The kernel's random source failing is an environment bug, not input.
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    filled += static_cast<std::size_t>(n);
  }
  return core::to_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace imgflow::storage::internal
