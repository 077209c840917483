#include "transports/log/log_limit.hpp"

namespace util {

void LogLimiter::set_limit(std::string_view kind, unsigned lines_per_window) {
  limits_.insert_or_assign(std::string(kind), lines_per_window);
}

unsigned LogLimiter::limit_of(std::string_view kind) const {
  const auto it = limits_.find(kind);
  return it == limits_.end() ? default_limit_ : it->second;
}

bool LogLimiter::allow(std::string_view kind, Clock::time_point now,
                       std::uint64_t& suppressed_before) {
  suppressed_before = 0;
  auto it = windows_.find(kind);
  if (it == windows_.end()) it = windows_.emplace(std::string(kind), Window{now, 0, 0}).first;
  Window& w = it->second;
  if (now - w.start >= window_) {
    suppressed_before = w.suppressed;
    w = Window{now, 0, 0};
  }
  if (w.lines < limit_of(kind)) {
    ++w.lines;
    return true;
  }
  ++w.suppressed;
  return false;
}

std::vector<LogLimiter::Suppressed> LogLimiter::expire(Clock::time_point now) {
  std::vector<Suppressed> out;
  for (auto& [kind, w] : windows_) {
    if (w.suppressed == 0 || now - w.start < window_) continue;
    out.push_back({kind, w.suppressed});
    // A new window: the next lines print again (one summary per window in a steady flood).
    w = Window{now, 0, 0};
  }
  return out;
}

std::vector<LogLimiter::Suppressed> LogLimiter::drain() {
  std::vector<Suppressed> out;
  for (auto& [kind, w] : windows_) {
    if (w.suppressed == 0) continue;
    out.push_back({kind, w.suppressed});
    w.suppressed = 0;
  }
  return out;
}

}  // namespace util
