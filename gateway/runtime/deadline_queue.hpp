// The sessions' next deadlines (retransmission, keep-alive, sleep: Session::next_deadline()) in
// one heap, and the one libuv timer armed for the earliest. Entries are never removed: a popped
// entry whose session moved its deadline is stale and skipped by the caller.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

#include "gateway/core/session_types.hpp"
#include "gateway/runtime/uv_handle.hpp"

namespace gw {

class DeadlineQueue {
 public:
  struct Deadline {
    TimePoint when;
    std::uint64_t session_id;
    bool operator>(const Deadline& o) const noexcept { return when > o.when; }
  };
  // `on_due` runs when the timer fires (it pops what is due and calls rearm()).
  DeadlineQueue(uv_loop_t* loop, std::function<TimePoint()> now, std::function<void()> on_due);

  // Adds a deadline; arms the timer if it is earlier than the armed one (stops it if `stopped`).
  void push(TimePoint when, std::uint64_t session_id, bool stopped);
  // Stale entries pile up when sessions move their deadlines: rebuild from the live ones when
  // there are many more entries than sessions.
  bool needs_rebuild(std::size_t live_sessions) const noexcept {
    return heap_.size() > 4 * live_sessions + 1024;
  }
  void rebuild(const std::vector<Deadline>& live);
  // The earliest deadline if it is due at `now`, removed from the queue.
  std::optional<Deadline> pop_due(TimePoint now);
  // Arms the timer for the earliest deadline (stops it when there is none or `stopped`).
  void rearm(bool stopped = false);
  void stop();
  UvTimer& timer() noexcept { return timer_; }

 private:
  std::function<TimePoint()> now_;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> heap_;
  std::optional<TimePoint> armed_for_;
  UvTimer timer_;
};

// Milliseconds from `now` until `when`, rounded up; 0 if it has passed.
std::uint64_t ms_until(TimePoint when, TimePoint now);

}  // namespace gw
