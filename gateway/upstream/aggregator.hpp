// Aggregating mode (broker.mode = "aggregating"): every sensor session shares one upstream MQTT
// connection, the gateway's own client. Each session gets a small Upstream handle; the aggregator
// reference-counts subscriptions across sessions, fans messages from the broker out to the
// sessions holding a matching filter, and maps the link's acknowledgements back to the sessions.
// Everything the sessions hear goes through the Mailbox with their id, as in transparent mode.
// Loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/core/session_snapshot.hpp"
#include "gateway/core/subscription_table.hpp"
#include "gateway/upstream/mailbox.hpp"
#include "gateway/upstream/upstream.hpp"

namespace gw {

class SharedUpstream;

class Aggregator {
 public:
  // `link`: the runtime's shared gateway client (null while it has none). CleanSession=false
  // sessions keep their subscriptions for `parked_expiry` after they end (zero: not at all), at
  // most `max_parked` of them (protocol.max_parked_sessions; the oldest goes first).
  // `now`: the clock (injected by unit tests; steady_clock by default).
  Aggregator(Mailbox& mailbox, const std::unique_ptr<Upstream>& link,
             std::chrono::seconds parked_expiry, std::size_t max_parked = 10000,
             std::function<TimePoint()> now = &Clock::now);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // The upstream of one sensor session, on the shared link.
  std::unique_ptr<Upstream> open(std::uint64_t session_id, const std::string& client_id);
  // Where a message for a parked CleanSession=false session goes (the runtime keeps it in that
  // session's buffer, as a broker keeps messages for a persistent session).
  using ParkedSink = std::function<void(const std::string& client_id, const ev::UpstreamMessage&)>;
  void set_parked_sink(ParkedSink sink) { parked_sink_ = std::move(sink); }
  // Sessions restored from the state store, before the link first connects: what they held is
  // held again, so the messages the broker kept for the link (its session is persistent) while
  // the gateway was down find them. A live one (by session id) then attaches with its session
  // present; a parked one is kept by ClientId, parked since `since`.
  void restore_live(std::uint64_t session_id, const std::vector<Subscription>& subscriptions);
  void restore_parked(const std::string& client_id, const std::vector<Subscription>& subscriptions,
                      TimePoint since);
  // An event of the shared link (mailbox session id 0), after the runtime has seen it.
  void on_link_event(const UpstreamEvent& event);
  // The gateway is stopping: the link goes away with all its subscriptions, nothing to undo.
  void stop() noexcept { stopping_ = true; }

  std::size_t sessions() const noexcept { return open_.size(); }
  std::size_t filters() const noexcept { return table_.filter_count(); }
  std::size_t parked() const noexcept { return parked_.size(); }

 private:
  friend class SharedUpstream;
  using Holder = SubscriptionTable::Holder;
  enum class Kind : std::uint8_t { Publish, Subscribe, Unsubscribe, Internal };
  // What a link token stands for.
  struct Pending {
    Kind kind = Kind::Internal;
    std::uint64_t session_id = 0;
    std::uint32_t token = 0;  // the session's token
    std::string filter;       // Subscribe
    int qos = 0;              // Subscribe: what the session asked for
    bool was_held = false;    // Subscribe: the session held the filter already
  };
  struct Parked {
    Holder holder = 0;
    TimePoint since{};
  };

  // From the handles.
  void attach(SharedUpstream& s, bool clean_session);
  void reconnected(SharedUpstream& s);
  void publish(const SharedUpstream& s, std::uint32_t token, const std::string& topic,
               const Bytes& payload, int qos, bool retain);
  void subscribe(const SharedUpstream& s, std::uint32_t token, const std::string& filter, int qos);
  void unsubscribe(const SharedUpstream& s, std::uint32_t token, const std::string& filter);
  void detach(SharedUpstream& s, bool post_closed);

  bool up() const noexcept;
  std::uint32_t new_token();
  void post(std::uint64_t session_id, UpstreamEvent event);
  void subscribe_upstream(const std::string& filter, int qos);
  void unsubscribe_upstream(const std::string& filter);
  void drop_parked(const std::string& client_id);
  void expire_parked(TimePoint now);
  void on_link_up(bool session_present);
  void fail_in_flight();
  void hold_restored(Holder holder, const std::vector<Subscription>& subscriptions);
  void on_message(const ev::UpstreamMessage& m);
  void on_subscribed(const ev::UpstreamSubscribed& s);

  Mailbox& mailbox_;
  const std::unique_ptr<Upstream>& link_;
  std::chrono::seconds parked_expiry_;
  std::size_t max_parked_;
  std::function<TimePoint()> now_;
  bool up_ = false;
  bool stopping_ = false;
  // Until the link's first connect succeeds or fails, sessions wait for it (session id ->
  // session_present) rather than being refused by a gateway that just started.
  bool first_connect_done_ = false;
  std::unordered_map<std::uint64_t, bool> waiting_;
  SubscriptionTable table_;
  std::unordered_map<std::uint64_t, SharedUpstream*> open_;  // attached handles by session id
  std::unordered_map<std::uint32_t, Pending> pending_;       // by link token
  std::uint32_t next_token_ = 1;                             // 0: the runtime's own traffic
  std::unordered_map<std::string, Parked> parked_;           // by ClientId
  // The parked ones oldest first (since, holder) -> ClientId: expiry and the cap take from the
  // front, no scan of them all.
  std::map<std::pair<TimePoint, Holder>, std::string> parked_order_;
  Holder next_parked_holder_ = Holder{1} << 63;  // above every session id
  std::unordered_map<Holder, std::string> parked_by_holder_;
  ParkedSink parked_sink_;
  // The filters the link's broker session holds, as far as the gateway knows: the link's session
  // is persistent, so what was not undone while it was down is undone when it is back.
  std::set<std::string> on_broker_;
  std::set<std::uint64_t> restored_;  // restore_live sessions not attached yet
};

}  // namespace gw
