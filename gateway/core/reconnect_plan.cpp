#include "gateway/core/reconnect_plan.hpp"

#include <algorithm>

namespace gw {

void ReconnectPlan::unschedule(Id id, Entry& e) {
  if (e.due) {
    auto [lo, hi] = schedule_.equal_range(*e.due);
    for (auto it = lo; it != hi; ++it)
      if (it->second == id) {
        schedule_.erase(it);
        break;
      }
  }
  if (e.order) held_.erase(*e.order);
  e.order.reset();
  e.due.reset();
}

std::optional<ReconnectPlan::TimePoint> ReconnectPlan::lost(Id id, TimePoint now, bool broker_up) {
  Entry& e = entries_[id];
  unschedule(id, e);
  if (e.connected_at && now - *e.connected_at >= max_) e.failures = 0;
  e.connected_at.reset();
  // min * 2^failures, at most max.
  auto delay = min_;
  for (unsigned i = 0; i < e.failures && delay < max_; ++i) delay *= 2;
  delay = std::min(delay, max_);
  ++e.failures;
  e.order = next_order_++;
  held_.emplace(*e.order, id);
  if (!broker_up) return std::nullopt;
  e.due = now + delay;
  schedule_.emplace(*e.due, id);
  return e.due;
}

void ReconnectPlan::connected(Id id, TimePoint now) {
  Entry& e = entries_[id];
  unschedule(id, e);
  e.connected_at = now;
}

void ReconnectPlan::forget(Id id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  unschedule(id, it->second);
  entries_.erase(it);
}

std::vector<ReconnectPlan::Id> ReconnectPlan::due(TimePoint now, bool broker_up) {
  std::vector<Id> out;
  while (!schedule_.empty() && schedule_.begin()->first <= now) {
    const Id id = schedule_.begin()->second;
    schedule_.erase(schedule_.begin());
    Entry& e = entries_[id];
    e.due.reset();
    if (!broker_up) continue;  // stays held: released by broker_back()
    if (e.order) held_.erase(*e.order);
    e.order.reset();
    out.push_back(id);
  }
  return out;
}

std::vector<ReconnectPlan::Id> ReconnectPlan::broker_back() {
  std::vector<Id> out;
  out.reserve(held_.size());
  for (const auto& [order, id] : held_) {
    out.push_back(id);
    Entry& e = entries_[id];
    e.failures = 0;
    e.due.reset();
    e.order.reset();
  }
  held_.clear();
  schedule_.clear();
  return out;
}

std::optional<ReconnectPlan::TimePoint> ReconnectPlan::next_due() const {
  if (schedule_.empty()) return std::nullopt;
  return schedule_.begin()->first;
}

}  // namespace gw
