#include "transports/log/limited_log.hpp"

#include <map>
#include <string>

namespace util {
namespace {

std::map<std::string, spdlog::level::level_enum, std::less<>>& levels() {
  static std::map<std::string, spdlog::level::level_enum, std::less<>> m;
  return m;
}

}  // namespace

LogLimiter& log_limiter() {
  static LogLimiter limiter = [] {
    LogLimiter l(kLinesPerWindow, kWindow);
    // A fleet starting or a broker coming back is a normal burst of these.
    for (const char* kind : {"session new", "session ended", "session takeover", "session event"})
      l.set_limit(kind, kSessionLinesPerWindow);
    return l;
  }();
  return limiter;
}

void note_level(std::string_view kind, spdlog::level::level_enum level) {
  auto& m = levels();
  if (auto it = m.find(kind); it != m.end())
    it->second = level;
  else
    m.emplace(std::string(kind), level);
}

void log_suppressed(std::string_view kind, std::uint64_t count) {
  const auto it = levels().find(kind);
  spdlog::log(it == levels().end() ? spdlog::level::warn : it->second,
              "{} similar messages suppressed ({})", count, kind);
}

void report_suppressed(bool all) {
  auto& l = log_limiter();
  for (const auto& s : all ? l.drain() : l.expire(LogLimiter::Clock::now()))
    log_suppressed(s.kind, s.count);
}

}  // namespace util
