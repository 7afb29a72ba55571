#include "core/log.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include "core/text.h"

namespace imgflow::core {
namespace {

// RFC 3339 UTC with milliseconds, e.g. 2026-11-26T17:43:40.123Z.
std::string timestamp_now() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(millis));
  return buf;
}

void append_value(std::string& out, const LogField::Value& value) {
  if (const auto* s = std::get_if<std::string_view>(&value)) {
    append_json_string(out, *s);
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    out += std::to_string(*i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *d);
    out += buf;
  } else {
    out += std::get<bool>(value) ? "true" : "false";
  }
}

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4U];
          out += kHex[c & 0xFU];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "json") return LogFormat::kJson;
  if (text == "text") return LogFormat::kText;
  if (text == "lambda") return LogFormat::kLambda;
  return std::nullopt;
}

std::string Logger::json_line(LogLevel level, std::string_view msg,
                              std::initializer_list<LogField> fields, bool lambda) const {
  std::string level_name(to_string(level));
  if (lambda) {
    std::transform(level_name.begin(), level_name.end(), level_name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  }
  std::string line = lambda ? "{\"timestamp\":\"" : "{\"ts\":\"";
  line += timestamp_now() + "\",\"level\":\"" + level_name;
  line += lambda ? "\",\"message\":" : "\",\"msg\":";
  append_json_string(line, msg);
  for (const LogField& field : fields) {
    line += ',';
    // Lambda's own lines and its console name the request "requestId".
    append_json_string(line, lambda && field.key == "request_id" ? "requestId" : field.key);
    line += ':';
    append_value(line, field.value);
  }
  return line + "}\n";
}

std::string Logger::text_line(LogLevel level, std::string_view msg,
                              std::initializer_list<LogField> fields) const {
  std::string line = timestamp_now() + " " + std::string(to_string(level));
  line.append(6 - std::min<std::size_t>(5, to_string(level).size()), ' ');
  line += escape_for_terminal(msg);
  for (const LogField& field : fields) {
    const auto* text = std::get_if<std::string_view>(&field.value);
    if (text != nullptr && text->empty()) continue;  // an empty field says nothing to a reader
    line += ' ';
    line += field.key;
    line += '=';
    if (text == nullptr) {
      append_value(line, field.value);
      continue;
    }
    const std::string shown = escape_for_terminal(*text);
    const bool quote = shown.find_first_of(" \"=") != std::string::npos;
    if (!quote) {
      line += shown;
      continue;
    }
    line += '"';
    for (char c : shown) line += c == '"' ? std::string("\\\"") : std::string(1, c);
    line += '"';
  }
  return line + "\n";
}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  const std::string line = format_ == LogFormat::kText
                               ? text_line(level, msg, fields)
                               : json_line(level, msg, fields, format_ == LogFormat::kLambda);
  const std::lock_guard lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace imgflow::core
