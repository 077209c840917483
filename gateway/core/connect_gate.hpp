// At most `limit` upstream connects in flight at once; the others wait, first come first served.
// Pure: the runtime asks before it opens a sensor's upstream connection and tells it when the
// connect is over (docs/design.md "Connect storms and broker outages").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace gw {

class ConnectGate {
 public:
  using Id = std::uint64_t;
  using TimePoint = std::chrono::steady_clock::time_point;
  // `limit` 0: no limit.
  explicit ConnectGate(std::size_t limit) : limit_(limit) {}

  enum class Admit : std::uint8_t {
    Start,   // a slot is taken for it: start the connect now
    Wait,    // queued behind the others: start it when take_startable() returns it
    Already  // in flight or waiting already: a repeated request opens nothing more
  };
  Admit request(Id id, TimePoint now);
  // Its connect is over (connected, failed) or no longer wanted (the session ended): frees its
  // slot or its place in the queue. Unknown ids are ignored.
  void done(Id id);
  // The waiting ids that fit into the free slots, oldest first; each holds a slot from now on.
  std::vector<Id> take_startable(TimePoint now);
  // Slots held since before `oldest` (a connect that never reported): freed, their ids returned.
  std::vector<Id> reclaim(TimePoint oldest);
  void set_limit(std::size_t limit) noexcept { limit_ = limit; }

  bool in_flight(Id id) const { return in_flight_.contains(id); }
  bool waiting(Id id) const { return waiting_.contains(id); }
  std::size_t in_flight_count() const noexcept { return in_flight_.size(); }
  std::size_t waiting_count() const noexcept { return waiting_.size(); }

 private:
  bool has_room() const noexcept { return limit_ == 0 || in_flight_.size() < limit_; }

  std::size_t limit_;
  std::unordered_map<Id, TimePoint> in_flight_;  // since when
  std::unordered_set<Id> waiting_;
  std::deque<Id> queue_;  // FIFO; ids no longer in waiting_ are skipped (removed lazily)
};

}  // namespace gw
