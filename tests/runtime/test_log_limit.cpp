#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>

#include "transports/log/log_limit.hpp"

using util::LogLimiter;
using namespace std::chrono_literals;

namespace {

// How many of `n` lines of `kind` at `now` may print; the summary count handed back goes to
// `before`.
unsigned allowed(LogLimiter& l, const char* kind, LogLimiter::Clock::time_point now, unsigned n,
                 std::uint64_t& before) {
  unsigned ok = 0;
  before = 0;
  for (unsigned i = 0; i < n; ++i) {
    std::uint64_t b = 0;
    if (l.allow(kind, now, b)) ++ok;
    before += b;
  }
  return ok;
}

}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("log limiter: N lines per window, then counted; the count is reported once") {
    LogLimiter l(3, 10s);
    const LogLimiter::Clock::time_point t0{};
    std::uint64_t before = 0;
    CHECK(allowed(l, "malformed", t0, 1000, before) == 3);
    CHECK(before == 0);
    // Still inside the window: nothing to report yet, nothing more printed.
    CHECK(l.expire(t0 + 9s).empty());
    CHECK(allowed(l, "malformed", t0 + 9s, 5, before) == 0);
    // The next line after the window prints, and brings the summary of the one before.
    CHECK(allowed(l, "malformed", t0 + 10s, 1, before) == 1);
    CHECK(before == 1002);
    CHECK(l.drain().empty());
  }

  TEST_CASE("log limiter: expire reports ended windows only, and starts a new window") {
    LogLimiter l(2, 10s);
    const LogLimiter::Clock::time_point t0{};
    std::uint64_t before = 0;
    allowed(l, "a", t0, 7, before);
    allowed(l, "b", t0 + 5s, 4, before);
    allowed(l, "c", t0, 2, before);  // at the limit: nothing suppressed
    const auto first = l.expire(t0 + 10s);
    REQUIRE(first.size() == 1);
    CHECK(first[0] == LogLimiter::Suppressed{"a", 5});
    CHECK(l.expire(t0 + 10s).empty());                 // reported once
    CHECK(allowed(l, "a", t0 + 11s, 3, before) == 2);  // a fresh window for "a"
    CHECK(before == 0);
    const auto second = l.expire(t0 + 15s);
    REQUIRE(second.size() == 1);
    CHECK(second[0] == LogLimiter::Suppressed{"b", 2});
    // At exit: whatever is still counted, window over or not.
    const auto rest = l.drain();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0] == LogLimiter::Suppressed{"a", 1});
  }

  TEST_CASE("log limiter: kinds are independent and may have their own budget") {
    LogLimiter l(1, 10s);
    l.set_limit("session new", 4);
    const LogLimiter::Clock::time_point t0{};
    std::uint64_t before = 0;
    CHECK(allowed(l, "unknown sender", t0, 10, before) == 1);
    CHECK(allowed(l, "session new", t0, 10, before) == 4);
    CHECK(allowed(l, "link down", t0, 10, before) == 1);
  }

  TEST_CASE("log limiter: normal rates are never suppressed") {
    LogLimiter l(5, 10s);
    LogLimiter::Clock::time_point t{};
    std::uint64_t before = 0;
    for (int i = 0; i < 100; ++i, t += 2s) CHECK(allowed(l, "session ended", t, 1, before) == 1);
    CHECK(l.drain().empty());
  }
}
