#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "scan/clamd_address.h"
#include "scan/reply.h"
#include "scan/scanner.h"

// The client of clamd, ClamAV's scanning daemon: one connection per command, the z-prefixed
// (NUL-terminated) commands of its protocol, and a deadline over each whole command.
namespace imgflow::scan {

struct ClamdOptions {
  // Whole command: connect, send and the reply. clamd scans ~80 MB/s; 30 s covers 100 MiB
  // with room for a busy daemon, and a hung one costs no more than this.
  std::chrono::milliseconds timeout{30'000};
  // Larger inputs are refused before connecting (kTooLarge): clamd would stop reading at its
  // StreamMaxLength anyway, and a limit of ours holds whatever clamd.conf says.
  std::uint64_t max_bytes = 100ULL << 20U;
  // INSTREAM chunk size: clamd reads each chunk whole; 64 KiB keeps its buffer small.
  std::size_t chunk_bytes = 64U << 10U;
};

class ClamdClient final : public Scanner {
 public:
  ClamdClient(ClamdAddress address, ClamdOptions options);

  // zINSTREAM: streams `bytes` in 4-byte big-endian length-prefixed chunks, then a zero
  // length, and parses the verdict. Errors as Scanner::scan: kUnavailable when clamd cannot
  // be reached, resets the connection, closes it without a verdict or reports an ERROR;
  // kTimeout when the deadline passes at any step; kTooLarge over max_bytes (nothing sent) or
  // over clamd's StreamMaxLength; kCorrupt for a reply that is not a verdict. Never hangs.
  core::Result<Verdict> scan(std::string_view bytes) const override;

  // zPING: ok when clamd answers PONG. Errors as scan().
  core::Status ping() const;

  // zVERSION: the engine and signature database versions. Errors as scan().
  core::Result<ClamdVersion> version() const override;

  // "clamd " + the address.
  std::string name() const override;

  const ClamdAddress& address() const { return address_; }
  const ClamdOptions& options() const { return options_; }

 private:
  // Sends `command` (and, for INSTREAM, the stream) and reads one NUL-terminated reply.
  core::Result<std::string> exchange(std::string_view command,
                                     const std::string_view* stream) const;

  ClamdAddress address_;
  ClamdOptions options_;
};

}  // namespace imgflow::scan
