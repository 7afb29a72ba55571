#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace imgflow::core {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

std::string_view to_string(LogLevel level);

// One key/value of a structured log line. Values are borrowed for the duration of the call.
struct LogField {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;
  std::string_view key;
  Value value;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  template <typename Int>
  requires std::is_integral_v<Int> LogField(std::string_view k, Int v)
      : key(k), value(static_cast<std::int64_t>(v)) {}
};

// How lines are written: JSON for tools (jq, log shippers, CloudWatch), text for people.
enum class LogFormat {
  kJson,  // {"ts":"2026-12-06T16:30:00.123Z","level":"info","msg":"stored","key":"a.jpg",...}
  kText,  // 2026-12-06T16:30:00.123Z info  stored key=a.jpg bytes=42 reason="two words"
  // JSON as AWS Lambda reads it (its log-level filtering needs "timestamp" and "level"):
  // {"timestamp":"…","level":"INFO","message":"stored","requestId":"…","key":"a.jpg",...}
  kLambda,
};

// Parses "json", "text" or "lambda"; nullopt for anything else.
std::optional<LogFormat> parse_log_format(std::string_view text);

// Writes one line per call, every line in the same format: a JSON object (the default), or
// logfmt-style text whose values are quoted when they hold spaces or quotes and whose control
// characters are escaped. Safe to call from any thread; each line is written whole.
class Logger {
 public:
  explicit Logger(std::FILE* out = stderr, LogLevel min_level = LogLevel::kInfo,
                  LogFormat format = LogFormat::kJson)
      : out_(out), min_level_(min_level), format_(format) {}

  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  void info(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::kInfo, msg, fields);
  }
  void warn(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::kWarn, msg, fields);
  }
  void error(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::kError, msg, fields);
  }
  bool enabled(LogLevel level) const { return level >= min_level_; }

 private:
  std::string json_line(LogLevel level, std::string_view msg,
                        std::initializer_list<LogField> fields, bool lambda) const;
  std::string text_line(LogLevel level, std::string_view msg,
                        std::initializer_list<LogField> fields) const;

  std::FILE* out_;
  LogLevel min_level_;
  LogFormat format_;
  std::mutex mu_;
};

// Appends `text` to `out` as a quoted JSON string, escaping what JSON requires.
void append_json_string(std::string& out, std::string_view text);

}  // namespace imgflow::core
