// The process-wide log-flood limiter over spdlog, for every line an outside peer can trigger at
// volume (malformed datagrams, unknown senders, session churn, BLE link drops...). Loop thread
// only. At most kLinesPerWindow lines of one kind per kWindow (session kinds: more); the rest are
// counted and reported as one "N similar messages suppressed (kind)" line at the same level, when
// the next line of that kind is allowed or when report_suppressed() finds the window over.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <string_view>
#include <utility>

#include "transports/log/log_limit.hpp"

namespace util {

inline constexpr unsigned kLinesPerWindow = 10;
inline constexpr unsigned kSessionLinesPerWindow = 50;
inline constexpr auto kWindow = std::chrono::seconds(10);

LogLimiter& log_limiter();
// Logs the summary line for `count` suppressed lines of `kind`.
void log_suppressed(std::string_view kind, std::uint64_t count);
// Logs the summaries of the windows that have ended (call about once a second); all = true:
// every pending count (at exit).
void report_suppressed(bool all = false);
// Remembers the level of a suppressed line, for its summary.
void note_level(std::string_view kind, spdlog::level::level_enum level);

template <typename... Args>
void log_limited(std::string_view kind, spdlog::level::level_enum level,
                 spdlog::format_string_t<Args...> fmt, Args&&... args) {
  // A level that is off costs nothing and counts nothing.
  if (!spdlog::should_log(level)) return;
  std::uint64_t before = 0;
  const bool print = log_limiter().allow(kind, LogLimiter::Clock::now(), before);
  if (before > 0) log_suppressed(kind, before);
  if (print)
    spdlog::log(level, fmt, std::forward<Args>(args)...);
  else
    note_level(kind, level);
}

}  // namespace util
