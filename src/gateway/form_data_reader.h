#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "storage/object_store.h"

namespace imgflow::gateway {

// One part of a multipart/form-data body, as its headers describe it.
struct FormPart {
  std::string name;                     // Content-Disposition name
  std::optional<std::string> filename;  // set for file parts
  std::string content_type;             // the part's Content-Type; empty when absent
};

// The boundary of a "multipart/form-data; boundary=..." Content-Type; nullopt for another type
// or a boundary outside RFC 2046's 1..70 characters.
std::optional<std::string> form_boundary(std::string_view content_type);

// Streams a multipart/form-data body from an untrusted client with bounded memory: part headers
// are capped (kMaxHeaderBytes), field values are read with a caller-given cap, and file data is
// passed through without being buffered whole. Errors are kInvalidArgument (malformed framing),
// kTooLarge (a cap was exceeded) or whatever the underlying source returns. Not thread-safe.
class FormDataReader {
 public:
  static constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
  static constexpr int kMaxParts = 100;

  FormDataReader(storage::ByteSource& source, std::string_view boundary);

  // Skips the rest of the current part and returns the next one; nullopt after the last.
  core::Result<std::optional<FormPart>> next();

  // The whole body of the current part, at most `max_bytes`.
  core::Result<std::string> read_value(std::size_t max_bytes);

  // The body of the current part as a stream; 0 at its end.
  storage::ByteSource& body() { return body_; }

 private:
  class PartBody final : public storage::ByteSource {
   public:
    explicit PartBody(FormDataReader& reader) : reader_(reader) {}
    core::Result<std::size_t> read(char* buf, std::size_t n) override {
      return reader_.read_body(buf, n);
    }

   private:
    FormDataReader& reader_;
  };

  enum class State { kPreamble, kHeaders, kBody, kDone };

  core::Result<std::size_t> read_body(char* buf, std::size_t n);
  // Offset of the next real delimiter in the buffer, or npos.
  core::Result<std::size_t> find_delimiter();
  // Reads from the source until the buffer holds `want` bytes or the source ends.
  core::Status fill(std::size_t want);
  // After a delimiter: "--" ends the body, CRLF starts another part's headers.
  core::Status after_delimiter();
  core::Result<FormPart> read_headers();

  storage::ByteSource& source_;
  std::string delimiter_;  // "\r\n--" + boundary
  std::string buffer_;
  bool source_done_ = false;
  State state_ = State::kPreamble;
  int parts_ = 0;
  PartBody body_{*this};
};

}  // namespace imgflow::gateway
