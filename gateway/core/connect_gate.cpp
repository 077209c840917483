#include "gateway/core/connect_gate.hpp"

namespace gw {

ConnectGate::Admit ConnectGate::request(Id id, TimePoint now) {
  if (in_flight_.contains(id) || waiting_.contains(id)) return Admit::Already;
  if (waiting_.empty() && has_room()) {
    in_flight_.emplace(id, now);
    return Admit::Start;
  }
  waiting_.insert(id);
  queue_.push_back(id);
  return Admit::Wait;
}

void ConnectGate::done(Id id) {
  if (in_flight_.erase(id) > 0) return;
  if (waiting_.erase(id) == 0) return;
  // Keep the lazily removed entries from piling up when many leave the queue early.
  if (queue_.size() > 2 * waiting_.size() + 64)
    std::erase_if(queue_, [&](Id q) { return !waiting_.contains(q); });
}

std::vector<ConnectGate::Id> ConnectGate::take_startable(TimePoint now) {
  std::vector<Id> out;
  while (has_room() && !queue_.empty()) {
    const Id id = queue_.front();
    queue_.pop_front();
    if (waiting_.erase(id) == 0) continue;  // left the queue earlier
    in_flight_.emplace(id, now);
    out.push_back(id);
  }
  return out;
}

std::vector<ConnectGate::Id> ConnectGate::reclaim(TimePoint oldest) {
  std::vector<Id> out;
  for (const auto& [id, since] : in_flight_)
    if (since < oldest) out.push_back(id);
  for (const Id id : out) in_flight_.erase(id);
  return out;
}

}  // namespace gw
