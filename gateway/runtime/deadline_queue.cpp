#include "gateway/runtime/deadline_queue.hpp"

#include <utility>

namespace gw {

std::uint64_t ms_until(TimePoint when, TimePoint now) {
  if (when <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
  return static_cast<std::uint64_t>(ms);
}

DeadlineQueue::DeadlineQueue(uv_loop_t* loop, std::function<TimePoint()> now,
                             std::function<void()> on_due)
    : now_(std::move(now)), timer_(loop, [this, f = std::move(on_due)] {
        armed_for_.reset();
        f();
      }) {}

void DeadlineQueue::push(TimePoint when, std::uint64_t session_id, bool stopped) {
  heap_.push(Deadline{when, session_id});
  if (!armed_for_ || when < *armed_for_) rearm(stopped);
}

void DeadlineQueue::rebuild(const std::vector<Deadline>& live) {
  decltype(heap_) fresh;
  for (const Deadline& d : live) fresh.push(d);
  heap_ = std::move(fresh);
}

std::optional<DeadlineQueue::Deadline> DeadlineQueue::pop_due(TimePoint now) {
  if (heap_.empty() || heap_.top().when > now) return std::nullopt;
  Deadline d = heap_.top();
  heap_.pop();
  return d;
}

void DeadlineQueue::rearm(bool stopped) {
  if (stopped || heap_.empty()) {
    stop();
    return;
  }
  const TimePoint when = heap_.top().when;
  armed_for_ = when;
  timer_.start(ms_until(when, now_()));
}

void DeadlineQueue::stop() {
  timer_.stop();
  armed_for_.reset();
}

}  // namespace gw
