#include "step.hpp"

#include <algorithm>

#include "stats.hpp"

namespace bench {

StepTimes run_step(const StepSpec& spec, const std::function<bool(std::uint32_t)>& send,
                   const std::function<void(int)>& service,
                   const std::function<std::uint64_t()>& progress,
                   const std::function<bool(std::uint64_t)>& settled) {
  StepTimes t;
  t.start_ns = now_ns();
  const Pacer pacer(spec.rate, t.start_ns);
  const auto total = static_cast<std::uint64_t>(spec.rate * spec.seconds);
  const auto send_end = t.start_ns + static_cast<std::int64_t>(spec.seconds * 1e9);
  // A turn that ends just after the period still sends what was due in it (up to 50 ms late).
  const auto last_turn = send_end + 50'000'000;
  for (auto now = t.start_ns; now < last_turn && t.offered < total; now = now_ns()) {
    const auto due = std::min(pacer.due(now), total);
    // Bounded burst per turn so that receiving keeps up with sending; acks are read every 32
    // messages of a burst too, so that a late turn does not fill a window with acks unread.
    for (int burst = 0; t.offered < due && burst < 256; ++burst) {
      if (burst > 0 && burst % 32 == 0) service(0);
      if (send(static_cast<std::uint32_t>(t.sent))) ++t.sent;
      ++t.offered;
    }
    service(t.offered < due ? 0 : 1);
  }
  // Everything due in the period counts as offered, also what a sender too slow to keep up never
  // got to (it shows as skipped, not as nothing).
  t.offered = std::max(t.offered, total);
  const auto drain_end = now_ns() + std::int64_t{spec.drain_ms} * 1'000'000;
  auto last_progress = progress();
  auto last_move = now_ns();
  for (auto now = now_ns(); now < drain_end; now = now_ns()) {
    if (settled(t.sent)) break;
    service(1);
    const auto p = progress();
    if (p != last_progress) {
      last_progress = p;
      last_move = now;
    } else if (now - last_move > std::int64_t{spec.quiet_ms} * 1'000'000) {
      break;
    }
  }
  t.end_ns = now_ns();
  return t;
}

}  // namespace bench
