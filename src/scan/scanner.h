#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "scan/reply.h"

namespace imgflow::scan {

// Something that scans bytes for malware. The handler depends on this; ClamdClient is the real
// one. A scan either yields a Verdict or an error that never means "clean":
//   kUnavailable  the scanner cannot be reached or could not scan now (retry later)
//   kTimeout      the scan did not finish within its deadline (retry later)
//   kTooLarge     the bytes are over the scanner's or the caller's limit (unscanned)
//   kCorrupt      the scanner answered something that is not a verdict
// Implementations are safe to call from many threads at once.
class Scanner {
 public:
  virtual ~Scanner() = default;

  virtual core::Result<Verdict> scan(std::string_view bytes) const = 0;

  // Who scanned, for the manifest ("clamd tcp://127.0.0.1:3310").
  virtual std::string name() const = 0;

  // The engine and signature database that scan() uses now, for the manifest. Errors as scan().
  virtual core::Result<ClamdVersion> version() const = 0;
};

}  // namespace imgflow::scan
