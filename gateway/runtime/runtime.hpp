// The gateway runtime: owns the sessions, routes datagrams to them, carries out their actions
// (the only place that does), runs their timers, and connects them to the broker through the
// upstream clients an UpstreamFactory makes (Paho's by default). Everything here runs on the one
// libuv loop thread.
#pragma once

#include <uv.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "gateway/admission/admission.hpp"
#include "gateway/admission/rate_limit.hpp"
#include "gateway/core/buffer_budget.hpp"
#include "gateway/core/connect_gate.hpp"
#include "gateway/core/reconnect_plan.hpp"
#include "gateway/core/result.hpp"
#include "gateway/core/session.hpp"
#include "gateway/core/session_types.hpp"
#include "gateway/runtime/deadline_queue.hpp"
#include "gateway/runtime/paho_waker.hpp"
#include "gateway/runtime/sensor_address.hpp"
#include "gateway/runtime/session_table.hpp"
#include "gateway/runtime/upstream_pool.hpp"
#include "gateway/runtime/uv_handle.hpp"
#include "gateway/store/state_store.hpp"
#include "gateway/upstream/mailbox.hpp"
#include "gateway/upstream/upstream.hpp"
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
  // broker.persistent_link: in aggregating mode the shared client's broker session is kept
  // (CleanSession=false), so what the broker receives while the gateway is away reaches the
  // sessions restored from the state store (runtime_parked.cpp).
  bool persistent_link = true;
  UpstreamOptions upstream;
  // broker.mode = "aggregating": all sensor sessions share the gateway client's connection
  // (gateway/upstream/aggregator.hpp) instead of one upstream connection each.
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
  // [dtls] identity_must_match_client_id (gateway/runtime/peer_identity.hpp).
  bool identity_must_match_client_id = true;
  // SQLite file where sessions survive a restart (state_store.hpp); "" = not kept.
  std::string state_path;
  std::uint64_t state_max_bytes = 0;  // state.max_bytes; 0 = no limit
  // protocol.max_client_id_length: longer ClientIds are refused (gateway/core/client_id.hpp).
  std::size_t max_client_id_length = 64;
  // admission.unknown_sender_replies_pps: DISCONNECTs to senders without a session, over all of
  // them (a burst of as many); the rest go unanswered. 0 = never answered.
  std::uint32_t unknown_sender_replies_pps = 10;
  // The clock; empty: steady_clock. Unit tests inject theirs.
  std::function<TimePoint()> clock;
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
  std::uint64_t refused_identity = 0;      // CONNACK 0x03: ClientId is not the DTLS identity
  std::uint64_t dropped_network = 0;       // other packets from outside the allowed networks
  std::uint64_t rate_limited = 0;          // dropped before decoding
  std::uint64_t store_writes = 0;          // state store transactions
  std::uint64_t store_errors = 0;          // ... that failed (logged)
  std::uint64_t refused_client_id_invalid = 0;  // CONNACK 0x03: not UTF-8, control chars, length
  std::uint64_t unknown_not_answered = 0;       // unknown sender: no DISCONNECT (type or rate)
  // QoS 0 uplink dropped: the session had no upstream client, Paho refused the publish (not
  // connected), the shared link was down (aggregating mode).
  std::uint64_t qos0_no_upstream = 0;
  std::uint64_t upstream_refused = 0;
  std::uint64_t link_down = 0;
  std::uint64_t upstream_queue_full = 0;  // Paho's queue of unwritten publishes was full
  std::uint64_t parked_not_kept =
      0;  // aggregating: a message for a parked ClientId with no session
  // Broker links: the sensors' own (transparent mode) and the gateway's shared client.
  std::uint64_t upstream_connects = 0;
  std::uint64_t upstream_connect_failures = 0;
  std::uint64_t upstream_losses = 0;
  std::uint64_t broker_connects = 0;
  std::uint64_t broker_losses = 0;
  // CONNACK 0x01 to a CONNECT whose upstream did not connect (runtime_connects.cpp): it waited
  // for a connect slot until broker.connect_timeout_ms, its connect was under way that long, or
  // the connect failed (broker unreachable or refusing).
  std::uint64_t connack_queue_timeout = 0;
  std::uint64_t connack_connect_timeout = 0;
  std::uint64_t connack_upstream_failed = 0;
  std::uint64_t upstream_retries = 0;  // reconnects of sensors' lost upstream connections
};

// A connect of a sensor's upstream client, as it waits for a slot in the ConnectGate: the
// session's first connect, a reconnect with a new will, or a retry after the connection was lost.
struct RetryUpstream {};
using UpstreamJob = std::variant<act::ConnectUpstream, act::ReconnectUpstream, RetryUpstream>;

// The runtime: the composition root of the parts under gateway/runtime/. Its methods live in one
// file per job: runtime.cpp (wiring, start, stop), runtime_ingress.cpp (datagrams in, admission,
// CONNECT, QoS -1), runtime_actions.cpp (carrying out session actions, sending), runtime_events.cpp
// (mailbox, the shared gateway client, deadlines, parking), runtime_store.cpp (persistence),
// service_view.cpp (read-only views for the service). docs/design.md walks through them.
class Runtime {
 public:
  // `upstreams`: makes the upstream clients; null: Paho's (PahoUpstreamFactory).
  Runtime(uv_loop_t* loop, RuntimeOptions options,
          std::unique_ptr<UpstreamFactory> upstreams = nullptr);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // The runtime sends through these (by their kind); they must outlive it.
  void add_transport(transport::Transport& t);
  // Starts the timers and the shared upstream client. Returns an error text, empty on success.
  std::string start();
  // A datagram from a transport (the ReceiveFn of every transport); `identity`: the DTLS peer's
  // PSK identity or certificate CN, "" for other transports.
  void on_datagram(const transport::PeerAddress& from, std::span<const std::uint8_t> bytes,
                   std::string_view identity = {});
  // Clean stop: ends the sessions, disconnects upstream (bounded by shutdown_timeout), closes its
  // handles, then calls `done` on the loop. Transports are closed by their owner.
  void stop(std::function<void()> done);
  // Carries out what is due at the clock's now: session deadlines, parked-session expiry and
  // sensors' upstream reconnects. The timers call it; unit tests with an injected clock call it
  // after moving the clock.
  void tick();

  const RuntimeCounters& counters() const noexcept { return counters_; }
  // Refusals and drops by the per-sensor caps (SessionConfig max_*).
  const LimitCounters& limit_counters() const noexcept { return *options_.session.limit_counters; }
  // Buffered broker messages over all sessions and the drops by reason.
  const BufferBudget& buffer_budget() const noexcept { return *options_.session.budget; }
  // SIGHUP: new allow-lists and limits. Sessions already connected stay until they reconnect
  // (those no longer allowed are logged).
  void set_admission(AdmissionOptions admission);
  // SIGHUP: buffer caps. Per-client caps apply to sessions created from now on, totals at once.
  void set_buffer_limits(std::size_t per_client, std::size_t per_client_bytes, std::size_t total,
                         std::size_t total_bytes);
  std::size_t session_count() const noexcept { return table_.size(); }
  bool broker_reachable() const noexcept { return broker_up_; }
  friend struct ServiceHooks;  // defined at the end of this file

 private:
  using Entry = SessionEntry;

  // runtime_ingress.cpp
  // `msg` may be moved from (its PUBLISH payload goes on to the upstream client).
  void handle(const SensorAddress& from, mqttsn::Message& msg, TimePoint now);
  void hint_peer_idle(Entry& e, bool idle);
  void handle_connect(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now);
  Entry& new_session(const SensorAddress& from, const std::string& client_id, TimePoint now);
  bool try_resume(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now);
  bool admit_datagram(const transport::PeerAddress& from, TimePoint now);
  void refuse(const SensorAddress& from, const std::string& client_id, mqttsn::ReturnCode code,
              const std::string& why);
  void handle_qos_minus_one(const SensorAddress& from, const mqttsn::Publish& p);
  void bind(Entry& e, const SensorAddress& to);
  // runtime_actions.cpp
  // Leaves `actions` carried out but not freed: the datagram path reuses one vector.
  void carry_out(Entry& e, Actions&& actions, TimePoint now);
  void end_session(Entry& e, bool lost);
  void publish_will_via_gateway(const Entry& e, const act::PublishUpstream& will);
  void send(const SensorAddress& to, const mqttsn::Message& msg);
  Result<std::unique_ptr<Upstream>> open_upstream(const Entry& e, const act::ConnectUpstream& a);
  std::string describe(const Entry& e) const;
  // runtime_events.cpp
  void reschedule(Entry& e);
  void run_deadlines(TimePoint now);
  void on_mailbox(MailboxEvent&& event);
  void on_gateway_event(MailboxEvent&& event);
  void connect_gateway_client();
  void advertise();
  void count_queue_full();
  // runtime_parked.cpp (aggregating mode)
  void hold_for_parked(const std::string& client_id, const ev::UpstreamMessage& m);
  void hold_restored(const Entry& e, const SessionSnapshot& s, bool parked);
  bool persistent_link() const noexcept;
  // Per-sensor certificates configured but unusable for this ClientId: counts, posts a permanent
  // UpstreamConnectFailed and returns true (no Paho client is made).
  bool refuse_without_credentials(const Entry& e, const std::string& client_id);
  void start_waker();
  void wake_upstream();
  // runtime_connects.cpp: bounded connects in flight (ConnectGate), reconnects (ReconnectPlan).
  void request_upstream(Entry& e, UpstreamJob job);
  void start_upstream(Entry& e, UpstreamJob job);
  void upstream_connect_over(std::uint64_t id);
  void start_queued_connects();
  void track_upstream(std::uint64_t id, const UpstreamEvent& event, bool was_queued, TimePoint now);
  void count_connect_refusal(std::uint64_t id, bool was_queued);
  void release_reconnects();
  void run_reconnects();
  void arm_reconnect_timer();
  void park(std::unique_ptr<Entry> entry, TimePoint now);
  void expire_parked(TimePoint now);
  void arm_parked_timer();
  // runtime.cpp
  void maybe_finish_stop();
  void finish_stop();
  // runtime_store.cpp: restore at start, note changed sessions after each carry_out, write them
  // all in one transaction per loop iteration.
  Status open_store();
  void restore(std::vector<StoredSession> stored);
  void note_changed(Entry& e);
  void note_changed(const std::string& client_id);
  void flush_store();

  uv_loop_t* loop_;
  RuntimeOptions options_;
  std::function<TimePoint()> now_;
  std::unique_ptr<UpstreamFactory> upstreams_;
  std::array<transport::Transport*, transport::kKindCount> transports_{};
  std::string_view identity_;  // of the datagram on_datagram() is handling
  Mailbox mailbox_;
  // Aggregating mode only. Declared before everything holding session upstreams: they point at it.
  std::unique_ptr<Aggregator> aggregator_;
  UvTimer advertise_timer_;
  UvTimer gateway_retry_timer_;
  UvTimer stop_timer_;
  UvTimer parked_timer_;
  UvCheck store_check_;

  SessionTable table_;
  DeadlineQueue deadlines_;
  UpstreamPool pool_;
  ConnectGate gate_;
  ReconnectPlan reconnects_;
  std::unordered_map<std::uint64_t, UpstreamJob> queued_jobs_;  // waiting in gate_
  UvTimer reconnect_timer_;
  std::unique_ptr<PahoWaker> waker_;  // transparent mode: see start_waker()

  std::unique_ptr<Upstream> gateway_client_;
  bool broker_up_ = false;
  bool broker_down_logged_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::function<void()> on_stopped_;

  std::unique_ptr<StateStore> store_;
  // ClientIds whose stored rows are out of date: rewritten or deleted by flush_store().
  std::unordered_set<std::string> changed_;
  TimePoint store_retry_at_{};  // after a failed write: not before this

  RuntimeCounters counters_;
  Actions packet_actions_;  // the actions of the datagram being handled, reused (no allocation)
  std::optional<RateLimiter> rate_limiter_;     // nullopt: no rate limit
  std::optional<TokenBucket> unknown_replies_;  // DISCONNECTs to unknown senders, all together
};

}  // namespace gw

// ---- service view (service_view.cpp)
namespace gw {

// Sensors by state and transport, for STATUS= lines and status topics.
struct SessionCounts {
  std::size_t connecting = 0, active = 0, asleep = 0, awake = 0;
  std::size_t udp = 0, ble = 0, dtls = 0;
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
