// Log-flood limiting, pure logic (the caller passes the time): each kind of event may print N lines
// per window; the rest are only counted, and that count is handed back once the window has ended,
// so the caller can print one "N similar messages suppressed (kind)" line.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace util {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Suppressed {
    std::string kind;
    std::uint64_t count = 0;
    friend bool operator==(const Suppressed&, const Suppressed&) = default;
  };

  LogLimiter(unsigned lines_per_window, Clock::duration window) noexcept
      : default_limit_(lines_per_window), window_(window) {}

  // A kind with its own budget (e.g. session churn, which is bursty at a normal fleet start).
  void set_limit(std::string_view kind, unsigned lines_per_window);

  // May a line of `kind` be printed at `now`? When the kind's previous window ended with lines
  // suppressed, `suppressed_before` gets their count (print that summary first); else 0.
  bool allow(std::string_view kind, Clock::time_point now, std::uint64_t& suppressed_before);

  // Kinds whose window has ended by `now` with lines suppressed: their counts, now reported.
  std::vector<Suppressed> expire(Clock::time_point now);
  // Every count not yet reported, whether or not its window has ended (at exit).
  std::vector<Suppressed> drain();

 private:
  struct Window {
    Clock::time_point start{};
    unsigned lines = 0;
    std::uint64_t suppressed = 0;
  };
  unsigned limit_of(std::string_view kind) const;

  unsigned default_limit_;
  Clock::duration window_;
  std::map<std::string, unsigned, std::less<>> limits_;
  std::map<std::string, Window, std::less<>> windows_;
};

}  // namespace util
