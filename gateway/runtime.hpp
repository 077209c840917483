// The gateway runtime: owns the sessions, routes datagrams to them, carries out their actions
// (the only place that does), runs their timers, and connects them to the broker through Paho.
// Everything here runs on the one libuv loop thread.
#pragma once

#include <uv.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gateway/admission.hpp"
#include "gateway/core/buffer_budget.hpp"
#include "gateway/core/session.hpp"
#include "gateway/core/session_types.hpp"
#include "gateway/mailbox.hpp"
#include "gateway/rate_limit.hpp"
#include "gateway/state_store.hpp"
#include "gateway/upstream.hpp"
#include "transports/peer_address.hpp"

namespace gw {

class Aggregator;

// [admission]: who may connect and how much one peer may send; all can change on SIGHUP.
struct AdmissionOptions {
  Admission allow;                         // ClientId and UDP network allow-lists
  std::size_t max_sessions = 0;            // live sessions; 0 = no limit
  std::uint32_t rate_limit_pps = 0;        // datagrams per second per source; 0 = no limit
  std::uint32_t rate_limit_burst = 0;      // 0: rate_limit_pps
  std::size_t rate_limit_sources = 10000;  // token buckets kept
};

struct RuntimeOptions {
  std::uint8_t gw_id = 1;
  std::string gateway_client_id;  // shared upstream client; default "mqttsn-gw-<gw_id>"
  UpstreamOptions upstream;
  // broker.mode = "aggregating": all sensor sessions share the gateway client's connection
  // (gateway/aggregator.hpp) instead of one upstream connection each.
  bool aggregating = false;
  SessionConfig session;
  std::chrono::seconds advertise_interval{900};
  std::chrono::milliseconds shutdown_timeout{3000};
  // CleanSession=false sessions kept after a clean DISCONNECT: how long, and how many at most
  // (the oldest goes first). Zero expiry: none are kept.
  std::chrono::seconds parked_session_expiry{3600};
  std::size_t max_parked_sessions = 10000;
  // MQTT will of the shared gateway client: the retained offline status, so a gateway that dies
  // shows as offline (set when status topics are on).
  std::optional<Will> gateway_will;
  AdmissionOptions admission;
  // SQLite file where sessions survive a restart (state_store.hpp); "" = not kept.
  std::string state_path;
};

struct RuntimeCounters {
  std::uint64_t datagrams = 0;
  std::uint64_t datagrams_out = 0;  // handed to a transport
  std::uint64_t malformed = 0;
  std::uint64_t unknown_sender = 0;  // answered with DISCONNECT
  std::uint64_t sessions_created = 0;
  std::uint64_t sessions_ended = 0;
  std::uint64_t takeovers = 0;
  std::uint64_t qos_m1_forwarded = 0;
  std::uint64_t qos_m1_dropped = 0;
  std::uint64_t encode_errors = 0;
  std::uint64_t parked_expired = 0;  // parked sessions dropped by expiry or by the cap
  // Admission ([admission]): refused CONNECTs (answered with a CONNACK) by reason, and datagrams
  // dropped unanswered.
  std::uint64_t refused_client_id = 0;     // CONNACK 0x03
  std::uint64_t refused_network = 0;       // CONNACK 0x03
  std::uint64_t refused_max_sessions = 0;  // CONNACK 0x01
  std::uint64_t refused_credentials = 0;   // CONNACK 0x03: the sensor's certificate/key unusable
  std::uint64_t dropped_network = 0;       // other packets from outside the allowed networks
  std::uint64_t rate_limited = 0;          // dropped before decoding
  std::uint64_t store_writes = 0;          // state store transactions
  std::uint64_t store_errors = 0;          // ... that failed (logged)
};

// Where a sensor is reached: its transport address, plus the wireless node id when it sits behind
// a forwarder (ENCAPSULATED, §5.5).
struct SensorAddress {
  transport::PeerAddress peer;
  std::string node_id;  // empty: not encapsulated
  friend bool operator==(const SensorAddress&, const SensorAddress&) = default;
};
struct SensorAddressHash {
  std::size_t operator()(const SensorAddress& a) const noexcept;
};

class Runtime {
 public:
  Runtime(uv_loop_t* loop, RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // The runtime sends through these (by their kind); they must outlive it.
  void add_transport(transport::Transport& t);
  // Starts the timers and the shared upstream client. Returns an error text, empty on success.
  std::string start();
  // A datagram from a transport (the ReceiveFn of every transport).
  void on_datagram(const transport::PeerAddress& from, std::span<const std::uint8_t> bytes);
  // Clean stop: ends the sessions, disconnects upstream (bounded by shutdown_timeout), closes its
  // handles, then calls `done` on the loop. Transports are closed by their owner.
  void stop(std::function<void()> done);

  const RuntimeCounters& counters() const noexcept { return counters_; }
  // Buffered broker messages over all sessions and the drops by reason.
  const BufferBudget& buffer_budget() const noexcept { return *options_.session.budget; }
  // SIGHUP: new allow-lists and limits. Sessions already connected stay until they reconnect
  // (those no longer allowed are logged).
  void set_admission(AdmissionOptions admission);
  // SIGHUP: buffer caps. Per-client caps apply to sessions created from now on, totals at once.
  void set_buffer_limits(std::size_t per_client, std::size_t per_client_bytes, std::size_t total,
                         std::size_t total_bytes);
  std::size_t session_count() const noexcept { return sessions_.size(); }
  bool broker_reachable() const noexcept { return broker_up_; }
  friend struct ServiceHooks;  // service hooks (R2), defined at the end of this file

 private:
  struct Entry {
    std::uint64_t id = 0;
    Session session;
    std::string client_id;
    std::optional<SensorAddress> address;  // nullopt: its address was taken by another sensor
    std::unique_ptr<Upstream> upstream;
    std::optional<TimePoint> scheduled;  // the deadline in the heap for it
    TimePoint parked_at{};               // when it was parked (parked entries only)
    TimePoint last_seen{};              // its last datagram (the loop's `now`: no extra clock read)
    std::uint64_t stored_revision = 0;  // the session revision last noted for the store
    Entry(std::uint64_t i, SessionConfig c, TimePoint now) : id(i), session(std::move(c), now) {}
  };
  struct Deadline {
    TimePoint when;
    std::uint64_t session_id;
    bool operator>(const Deadline& o) const noexcept { return when > o.when; }
  };

  void handle(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now);
  void handle_connect(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now);
  Entry& new_session(const SensorAddress& from, const std::string& client_id, TimePoint now);
  bool try_resume(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now);
  bool admit_datagram(const transport::PeerAddress& from, TimePoint now);
  void refuse(const SensorAddress& from, const std::string& client_id, mqttsn::ReturnCode code,
              const std::string& why);
  void handle_qos_minus_one(const SensorAddress& from, const mqttsn::Publish& p);
  void bind(Entry& e, const SensorAddress& to);
  void unbind(Entry& e);
  void carry_out(Entry& e, Actions actions, TimePoint now);
  void end_session(Entry& e, bool lost);
  void publish_will_via_gateway(const Entry& e, const act::PublishUpstream& will);
  void send(const SensorAddress& to, const mqttsn::Message& msg);
  void reschedule(Entry& e);
  void arm_timer();
  void on_timer();
  void on_mailbox(MailboxEvent&& event);
  void on_gateway_event(MailboxEvent&& event);
  void advertise();
  // Per-sensor certificates configured but unusable for this ClientId: counts, posts a permanent
  // UpstreamConnectFailed and returns true (no Paho client is made).
  bool refuse_without_credentials(const Entry& e, const std::string& client_id);
  std::unique_ptr<Upstream> open_upstream(const Entry& e, const act::ConnectUpstream& a,
                                          std::string& error);
  void retire(std::uint64_t session_id, std::unique_ptr<Upstream> client);
  void bury(std::unique_ptr<Upstream> client);
  void sweep();
  void park(std::unique_ptr<Entry> entry, TimePoint now);
  std::unique_ptr<Entry> unpark(const std::string& client_id);
  void expire_parked();
  void arm_parked_timer();
  void connect_started(std::uint64_t session_id);
  void connect_finished(std::uint64_t session_id);
  void wake_upstream();
  void maybe_finish_stop();
  void finish_stop();
  std::string describe(const Entry& e) const;
  Entry* find(std::uint64_t id);
  // State store (runtime_store.cpp): restore at start, note changed sessions after each
  // carry_out, write them all in one transaction per loop iteration.
  std::string open_store();
  void restore(std::vector<StoredSession> stored);
  void note_changed(Entry& e);
  void note_changed(const std::string& client_id);
  void flush_store();

  uv_loop_t* loop_;
  RuntimeOptions options_;
  std::array<transport::Transport*, 2> transports_{};
  Mailbox mailbox_;
  // Aggregating mode only. Declared before everything holding session upstreams: they point at it.
  std::unique_ptr<Aggregator> aggregator_;
  uv_timer_t session_timer_{};
  uv_timer_t advertise_timer_{};
  uv_timer_t gateway_retry_timer_{};
  uv_timer_t stop_timer_{};
  uv_timer_t sweep_timer_{};
  uv_timer_t parked_timer_{};
  uv_timer_t wake_timer_{};
  uv_check_t store_check_{};
  int open_timers_ = 0;  // timers and store_check_ not yet closed

  std::uint64_t next_session_id_ = 1;  // 0 is the shared gateway client
  std::unordered_map<std::uint64_t, std::unique_ptr<Entry>> sessions_;
  std::unordered_map<SensorAddress, std::uint64_t, SensorAddressHash> by_address_;
  std::unordered_map<std::string, std::uint64_t> by_client_id_;
  // Sessions that ended with a clean DISCONNECT and CleanSession=false, by ClientId: resumed by
  // their next CONNECT (topic ids survive).
  std::unordered_map<std::string, std::unique_ptr<Entry>> parked_;
  // The parked ones oldest first: (parked_at, old session id) -> ClientId.
  std::map<std::pair<TimePoint, std::uint64_t>, std::string> parked_order_;
  // Sessions whose upstream CONNECT is under way, since when (see wake_upstream()).
  std::unordered_map<std::uint64_t, TimePoint> connecting_;
  std::string wake_topic_;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  std::optional<TimePoint> timer_armed_for_;
  // Clients disconnecting after their session ended: destroyed on their UpstreamClosed event.
  std::unordered_map<std::uint64_t, std::unique_ptr<Upstream>> retiring_;
  // Closed clients waiting a moment before they are destroyed (see bury()).
  std::vector<std::pair<TimePoint, std::unique_ptr<Upstream>>> graveyard_;

  std::unique_ptr<UpstreamClient> gateway_client_;
  bool broker_up_ = false;
  bool broker_down_logged_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::function<void()> on_stopped_;

  std::unique_ptr<StateStore> store_;
  // ClientIds whose stored rows are out of date: rewritten or deleted by flush_store().
  std::unordered_set<std::string> changed_;

  RuntimeCounters counters_;
  std::optional<RateLimiter> rate_limiter_;  // nullopt: no rate limit
};

}  // namespace gw

// ---- service hooks (R2)
namespace gw {

// Sensors by state and transport, for STATUS= lines and status topics.
struct SessionCounts {
  std::size_t connecting = 0, active = 0, asleep = 0, awake = 0;
  std::size_t udp = 0, ble = 0;
  std::size_t total() const noexcept { return connecting + active + asleep + awake; }
};
// Read-only views of the runtime for the service parts (main, notify, status).
struct SensorView {
  std::string client_id;
  SessionState state;
  transport::Kind transport;
  std::string address;  // "" while it has none
  TimePoint last_seen;  // its last datagram
};
struct ServiceHooks {
  static SessionCounts session_counts(const Runtime& r);
  static std::vector<SensorView> sensors(const Runtime& r);
  // QoS 0 through the shared gateway client; false when the broker is not reachable.
  static bool publish(Runtime& r, const std::string& topic, const std::string& payload,
                      bool retain);
};

}  // namespace gw
