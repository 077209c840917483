// When each lost upstream connection is tried again (transparent mode, docs/design.md "Connect
// storms and broker outages"). While the broker is unreachable nobody retries: the gateway's own
// client probes it, and when it answers again every waiting connection is released at once, its
// back-off restarted from the minimum. While the broker is up, a connection it drops is retried
// after a back-off that doubles per failure (min, 2 min, ... max), so a broker that keeps closing
// one client is not hammered. Pure: the runtime feeds it events and time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gw {

class ReconnectPlan {
 public:
  using Id = std::uint64_t;
  using TimePoint = std::chrono::steady_clock::time_point;
  using Ms = std::chrono::milliseconds;
  ReconnectPlan(Ms min, Ms max) : min_(min), max_(max < min ? min : max) {}

  // Its connection was lost, or its reconnect failed, at `now`. `broker_up`: the gateway's own
  // client is connected. Returns when it is due (nullopt: it waits for the broker).
  std::optional<TimePoint> lost(Id id, TimePoint now, bool broker_up);
  // Connected at `now`: a connection that then lasts `max` starts the next back-off from `min`.
  void connected(Id id, TimePoint now);
  void forget(Id id);
  // The ids due by `now`, in due order (each leaves the plan; a failed retry comes back through
  // lost()). With the broker down, they wait for broker_back() instead.
  std::vector<Id> due(TimePoint now, bool broker_up);
  // The broker is reachable again: every id the plan holds, in the order they were lost, to be
  // tried now; their back-off starts again from the minimum.
  std::vector<Id> broker_back();
  std::optional<TimePoint> next_due() const;
  std::size_t waiting() const noexcept { return held_.size(); }

 private:
  struct Entry {
    unsigned failures = 0;
    std::optional<TimePoint> connected_at;
    std::optional<TimePoint> due;        // nullopt: waiting for the broker (or not lost)
    std::optional<std::uint64_t> order;  // held: when it was lost (first come first served)
  };
  void unschedule(Id id, Entry& e);

  Ms min_, max_;
  std::unordered_map<Id, Entry> entries_;
  std::multimap<TimePoint, Id> schedule_;
  std::map<std::uint64_t, Id> held_;  // lost ones by order (scheduled or waiting for the broker)
  std::uint64_t next_order_ = 0;
};

}  // namespace gw
