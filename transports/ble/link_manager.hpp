// Which sensors hold a GATT link, on which adapter, and when to try again: a pure state machine
// (events and time in, connect/disconnect requests out; std only). The D-Bus side feeds it what
// BlueZ reports and carries out what poll() returns. See docs/ble.md "Links and slots".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace transport::ble {

using LinkClock = std::chrono::steady_clock;
using LinkTime = LinkClock::time_point;

struct LinkPolicy {
  std::size_t max_connections = 5;           // GATT links at once per adapter
  std::chrono::seconds idle_disconnect{30};  // an asleep sensor's link is released; 0 = never
};

struct LinkRequest {
  enum class Op { Connect, Disconnect };
  Op op;
  std::string sensor;   // normalized address
  std::string adapter;  // adapter id (the D-Bus side uses the object path)
  friend bool operator==(const LinkRequest&, const LinkRequest&) = default;
};

enum class LinkState { Idle, Connecting, Ready, Releasing };
enum class ConnectError { Refused, Other };  // Refused: the controller had no room (Error.Failed)

class LinkManager {
 public:
  // Advertisements older than this do not make a sensor a candidate for a link.
  static constexpr auto kAdvertFresh = std::chrono::seconds(10);
  // A freshly linked asleep sensor is not released for another before this much quiet.
  static constexpr auto kEvictGrace = std::chrono::seconds(5);
  // A link whose sensor never said anything the gateway understood (no hint at all) counts as
  // asleep after this much silence, so a mute device cannot keep a slot for ever.
  static constexpr auto kMuteLink = std::chrono::seconds(60);
  // Connect attempts since the last success: the third waits until this long after the first.
  static constexpr auto kAttemptWindow = std::chrono::seconds(61);
  static constexpr auto kFirstRetry = std::chrono::seconds(2);
  static constexpr auto kFirstRetryRefused = std::chrono::seconds(20);
  static constexpr auto kMaxRetry = std::chrono::seconds(300);
  // After a refusal the adapter counts as full at its links of that moment for this long: the
  // controller (shared with other programs, or smaller than max_connections) had no room.
  static constexpr auto kFullFor = std::chrono::seconds(60);

  explicit LinkManager(LinkPolicy policy) : policy_(policy) {}

  void set_policy(LinkPolicy policy) { policy_ = policy; }
  const LinkPolicy& policy() const noexcept { return policy_; }

  // Adapter usable (powered, discovering) or not; down releases its links without back-off.
  void adapter_up(const std::string& adapter);
  void adapter_down(const std::string& adapter);

  // The sensor was seen advertising on an adapter. An RSSI change never shortens a back-off.
  void advert(const std::string& sensor, const std::string& adapter, int rssi, LinkTime now);
  // The link is usable (also for a link the sensor or someone else made: it takes a slot).
  void linked(const std::string& sensor, const std::string& adapter, LinkTime now);
  void connect_failed(const std::string& sensor, ConnectError why, LinkTime now);
  // The link went down (any reason); a new advertisement is needed before connecting again.
  void link_lost(const std::string& sensor, LinkTime now);
  void forget(const std::string& sensor);  // no longer allowed / removed
  // Bytes moved on the link: it is in use (least recently used is released first).
  void activity(const std::string& sensor, LinkTime now);
  // The gateway's hint: the sensor sleeps (idle) or is awake / mid-exchange.
  void set_idle(const std::string& sensor, bool idle, LinkTime now);

  // Decisions for now: releases of idle links, connects into free slots, releases that make room.
  std::vector<LinkRequest> poll(LinkTime now);

  struct AdapterStats {
    std::size_t links = 0, max_links = 0;
    std::uint64_t connects = 0, refused = 0, released = 0;
  };
  struct SensorView {
    LinkState state = LinkState::Idle;
    std::string adapter;  // while linked / connecting
    bool idle = false;
    std::uint64_t attempts = 0, refused = 0;
    std::optional<LinkTime> retry_at;
  };
  std::map<std::string, AdapterStats> adapters() const;
  std::optional<SensorView> sensor(const std::string& sensor) const;

 private:
  struct Seen {
    int rssi = 0;
    LinkTime at{};
  };
  struct Sensor {
    LinkState state = LinkState::Idle;
    std::string adapter;
    std::map<std::string, Seen> seen;  // adapter -> last advertisement
    bool idle = false;
    bool hinted = false;  // the gateway has said awake or asleep at least once
    LinkTime last_activity{};
    LinkTime retry_at{};
    std::deque<LinkTime> attempts;  // since the last success, at most 2 kept
    unsigned failures = 0;
    std::uint64_t total_attempts = 0, refused = 0;
  };

  std::size_t used(const std::string& adapter) const;
  std::size_t capacity(const std::string& adapter, LinkTime now) const;
  bool candidate(const Sensor& s, LinkTime now) const;
  std::optional<std::string> best_free_adapter(const Sensor& s, LinkTime now) const;
  const std::string* victim_for(const Sensor& s, LinkTime now) const;
  void release(Sensor& s, const std::string& name, std::vector<LinkRequest>& out);
  void count_link(const std::string& adapter);

  LinkPolicy policy_;
  std::set<std::string> up_;
  std::map<std::string, Sensor> sensors_;
  std::map<std::string, AdapterStats> stats_;
  struct Full {
    std::size_t links = 0;
    LinkTime until{};
  };
  std::map<std::string, Full> full_;  // learned from refusals
};

}  // namespace transport::ble
