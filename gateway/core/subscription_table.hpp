// Aggregating mode: which holders (sensor sessions, or parked CleanSession=false sessions) hold
// which topic filters on the one shared upstream connection. Reference counts decide when a filter
// is subscribed or unsubscribed upstream; match() says who gets a message from the broker.
// Pure: time comes in as arguments.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/core/session_types.hpp"

namespace gw {

class SubscriptionTable {
 public:
  using Holder = std::uint64_t;
  // After a SUBACK the broker sends the filter's retained messages (RETAIN=1, MQTT 3.1.1 §3.3.1.3);
  // they go only to holders whose subscription is that recent, not to the older holders.
  static constexpr Clock::duration kRetainedWindow = std::chrono::seconds(2);

  // `holder` subscribes (again) to `filter`. Returns the QoS to subscribe upstream with: the
  // highest of all holders. Until acked() the subscription counts as recent.
  int add(Holder holder, const std::string& filter, int qos);
  // The broker acknowledged the upstream SUBSCRIBE for this holder's subscription.
  void acked(Holder holder, const std::string& filter, TimePoint now);
  // Every subscription is recent again (the link re-subscribed everything after an outage).
  void refresh_all(TimePoint now);
  // Returns true when that was the filter's last holder (unsubscribe upstream).
  bool remove(Holder holder, const std::string& filter);
  // Drops all of the holder's subscriptions; returns the filters that lost their last holder.
  std::vector<std::string> remove_holder(Holder holder);
  // The holder's subscriptions now belong to `to` (which must hold none).
  void move_holder(Holder from, Holder to);

  // Holders with a filter matching `topic`, each once, ascending. A retained message goes only to
  // holders with a matching recent subscription.
  std::vector<Holder> match(const std::string& topic, bool retained, TimePoint now) const;
  // Every filter with its upstream QoS (re-subscribing after the link came back).
  std::vector<std::pair<std::string, int>> filters() const;

  bool holds(Holder holder, const std::string& filter) const;
  std::size_t holder_count(const std::string& filter) const;
  std::size_t filter_count() const noexcept { return filters_.size(); }

 private:
  struct Ref {
    int qos = 0;
    TimePoint recent_until = TimePoint::max();  // max: the SUBSCRIBE is not acknowledged yet
  };
  struct Filter {
    std::map<Holder, Ref> holders;
    int upstream_qos = 0;
  };
  void collect(const Filter& f, bool retained, TimePoint now, std::vector<Holder>& out) const;

  std::unordered_map<std::string, Filter> filters_;
  std::set<std::string> wildcards_;  // the filters with + or #: matched one by one
  std::unordered_map<Holder, std::set<std::string>> by_holder_;
};

}  // namespace gw
