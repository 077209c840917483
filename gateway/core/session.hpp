// One sensor's session: a pure state machine (no I/O, no clock). The runtime feeds it packets,
// upstream events and time, and carries out the actions it returns.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "gateway/core/outbox.hpp"
#include "gateway/core/session_snapshot.hpp"
#include "gateway/core/session_types.hpp"
#include "gateway/core/topic_registry.hpp"
#include "mqttsn/messages.hpp"

namespace gw {

class Session {
 public:
  Session(SessionConfig config, TimePoint now);

  // A decoded MQTT-SN message from this sensor (never ENCAPSULATED: the runtime unwraps it).
  // After a clean DISCONNECT (EndSession{lost=false}) the runtime may keep a CleanSession=false
  // session and feed it the sensor's next CONNECT: it then resumes with ConnectUpstream, keeping
  // its subscriptions, topic ids, will and buffered messages (§6.3, §6.12).
  Actions on_packet(const mqttsn::Message& msg, TimePoint now);
  // The same for the runtime's hot path: appends to `out` (a vector it reuses) and may move the
  // PUBLISH payload out of `msg` instead of copying it.
  void on_packet(mqttsn::Message&& msg, TimePoint now, Actions& out);
  // An event from this sensor's upstream MQTT session.
  Actions on_upstream(const UpstreamEvent& event, TimePoint now);
  // Called when now >= next_deadline() (calling it earlier is harmless).
  Actions on_timer(TimePoint now);
  // A broker message for this session while the runtime keeps it parked (CleanSession=false,
  // after a clean DISCONNECT; aggregating mode): buffered within the caps, as a broker keeps
  // messages for a persistent session, and delivered when the sensor's CONNECT resumes it.
  Actions on_parked_message(const ev::UpstreamMessage& e, TimePoint now);
  // The next time on_timer must be called, if any (keep-alive, sleep, retransmission).
  std::optional<TimePoint> next_deadline() const;

  SessionState state() const noexcept;
  const std::string& client_id() const noexcept;

  // ---- persistence (session_snapshot.cpp)
  // Moves whenever what snapshot() returns may have changed (registrations, subscriptions, will,
  // state, QoS 1/2 buffer); never for QoS 0/1/2 uplink PUBLISH, so the hot path writes nothing.
  std::uint64_t revision() const noexcept { return revision_; }
  SessionSnapshot snapshot() const;
  // Rebuilds a fresh session (constructed, nothing fed yet) from a snapshot at `now`: timers start
  // from `now`. A live session (Active, Asleep) asks for its upstream session again, as a CONNECT
  // would; a parked one (Disconnected) waits for the sensor's CONNECT.
  Actions restore(const SessionSnapshot& s, TimePoint now);

  // ---- status (for the runtime's logs, metrics and tests)
  const std::optional<Will>& will() const noexcept { return will_; }
  std::uint16_t keep_alive_s() const noexcept { return keep_alive_s_; }
  bool clean_session() const noexcept { return clean_session_; }
  // The sleep duration of the last DISCONNECT with a duration, while asleep / awake.
  std::optional<std::uint16_t> sleep_duration_s() const noexcept { return sleep_s_; }
  bool upstream_connected() const noexcept { return upstream_up_; }
  // A CONNECT waits for its upstream connection (no CONNACK sent yet).
  bool awaiting_upstream() const noexcept {
    return state_ == SessionState::Connecting && step_ == ConnectStep::WaitUpstream;
  }
  // Broker messages waiting for the client (not counting the one in flight).
  std::size_t buffered() const noexcept { return outbox_.size(); }
  // Broker messages dropped because the buffer was full.
  std::uint64_t dropped() const noexcept { return outbox_.dropped(); }
  // Whether a gateway-to-client REGISTER / PUBLISH / PUBREL awaits the client's answer.
  bool in_flight() const noexcept { return inflight_.has_value(); }
  std::size_t subscription_count() const noexcept { return subscriptions_.size(); }
  const TopicRegistry& topics() const noexcept { return topics_; }

 private:
  // Where a CONNECT is in its exchange (§6.2).
  enum class ConnectStep : std::uint8_t { None, WaitWillTopic, WaitWillMsg, WaitUpstream };
  struct PendingConnect {
    bool clean_session = true;
    bool will_flag = false;
    std::uint16_t duration = 0;
    std::optional<Will> will;  // being collected by the will exchange
  };
  // What an upstream token stands for.
  enum class UpKind : std::uint8_t { Publish1, Publish2, Subscribe, Unsubscribe, Internal };
  // Upstream losses with a QoS 1/2 PUBLISH in flight before the sensor is told it is refused.
  static constexpr unsigned kLossesBeforeRefusal = 2;
  static constexpr std::size_t kMaxDroppedPublishes = 64;
  struct UpPending {
    UpKind kind = UpKind::Internal;
    std::uint16_t msg_id = 0;
    std::uint16_t topic_id = 0;  // PUBACK / SUBACK topic id
    std::string filter;          // Subscribe: recorded on success
    int qos = 0;
    bool normal_topic = false;   // Subscribe: topic_id is a normal id the SUBACK tells the client
    unsigned losses = 0;         // Publish: upstream connection losses while it was in flight
    bool sent_while_up = false;  // Publish: the upstream connection was up when it went out
  };
  // Uplink QoS 2 message ids between PUBLISH and PUBREL.
  struct Qos2In {
    std::uint32_t token = 0;
    bool delivered = false;  // the broker has it; PUBREC sent
  };
  // The one gateway-to-client exchange awaiting the client (docs/design.md Delivery).
  enum class FlightKind : std::uint8_t { Register, Publish, PubRel };
  struct Inflight {
    FlightKind kind = FlightKind::Register;
    std::uint16_t msg_id = 0;
    mqttsn::Message sent;  // resent as is (DUP set on PUBLISH)
    Outgoing item;         // Publish / PubRel: the message; Register: item.topic only
    std::uint16_t topic_id = 0;
    TimePoint sent_at{};
    unsigned retries = 0;
    bool parked = false;  // PubRel while the client sleeps or reconnects: resent on resume
  };

  // `owned`: the same message when the caller gave it away (its payload may be moved).
  void on_packet_inner(const mqttsn::Message& msg, mqttsn::Message* owned, TimePoint now,
                       Actions& out);
  Actions on_timer_inner(TimePoint now);

  // session.cpp: connection, will, keep-alive, sleep, upstream connection events
  void on_connect(const mqttsn::Connect& c, TimePoint now, Actions& out);
  void on_will_topic(const mqttsn::WillTopic& m, TimePoint now, Actions& out);
  void on_will_msg(const mqttsn::WillMsg& m, TimePoint now, Actions& out);
  void finish_connect(TimePoint now, Actions& out);
  void accept_connection(TimePoint now, Actions& out);
  void refuse_connection(mqttsn::ReturnCode rc, std::string why, Actions& out);
  void on_disconnect(const mqttsn::Disconnect& d, TimePoint now, Actions& out);
  void on_pingreq(TimePoint now, Actions& out);
  void on_will_topic_upd(const mqttsn::WillTopicUpd& m, Actions& out);
  void on_will_msg_upd(const mqttsn::WillMsgUpd& m, Actions& out);
  void resume_after_disconnect();
  void go_asleep(TimePoint now);
  void lose(const std::string& why, Actions& out);
  void resubscribe(Actions& out);
  void on_upstream_connected(const ev::UpstreamConnected& e, TimePoint now, Actions& out);
  void fail_in_flight(Actions& out);
  void on_upstream_connect_failed(const ev::UpstreamConnectFailed& e, Actions& out);

  // session_uplink.cpp: client-to-broker traffic
  void on_register(const mqttsn::Register& m, Actions& out);
  // `payload`: m's data when it may be moved from (nullptr: copied).
  void on_publish(const mqttsn::Publish& m, mqttsn::Bytes* payload, Actions& out);
  void on_pubrel(const mqttsn::PubRel& m, Actions& out);
  void on_subscribe(const mqttsn::Subscribe& m, Actions& out);
  void on_unsubscribe(const mqttsn::Unsubscribe& m, Actions& out);
  void on_delivered(const ev::UpstreamDelivered& e, Actions& out);
  void on_publish_failed(const ev::UpstreamPublishFailed& e, Actions& out);
  // PUBACK 0x01 when the upstream is down (true: answered, not forwarded).
  bool refused_upstream_down(const mqttsn::Publish& m, Actions& out);
  // Brokers that refuse a publish by dropping the connection (MQTT 3.1.1 has no refusal code).
  void on_upstream_lost(Actions& out);
  void on_taken_over(Actions& out);
  void refuse_publish(const UpPending& p, std::uint32_t token, mqttsn::ReturnCode rc,
                      const std::string& why, Actions& out);
  void on_subscribed(const ev::UpstreamSubscribed& e, Actions& out);
  void on_unsubscribed(const ev::UpstreamUnsubscribed& e, Actions& out);

  // session_limits.cpp: the per-sensor caps of SessionConfig; true = refused (answer sent)
  bool refused_by_caps(const mqttsn::Register& m, Actions& out);
  bool refused_by_caps(const mqttsn::Subscribe& m, const std::string& filter, bool new_id,
                       Actions& out);
  std::uint16_t supervised_keep_alive(std::uint16_t duration, Actions& out);
  bool too_big_for_client(const ev::UpstreamMessage& e, Actions& out);

  // session_downlink.cpp: broker-to-client traffic
  void on_upstream_message(const ev::UpstreamMessage& e, TimePoint now, Actions& out);
  void pump(TimePoint now, Actions& out);
  void send_in_flight(Inflight f, TimePoint now, Actions& out);
  void on_regack(const mqttsn::RegAck& m, TimePoint now, Actions& out);
  void on_puback(const mqttsn::PubAck& m, TimePoint now, Actions& out);
  void on_pubrec(const mqttsn::PubRec& m, TimePoint now, Actions& out);
  void on_pubcomp(const mqttsn::PubComp& m, TimePoint now, Actions& out);
  void flight_done(TimePoint now, Actions& out);
  void park_in_flight();
  void retransmit(TimePoint now, Actions& out);
  bool delivering() const noexcept;
  // A sensor's QoS 1/2 PUBLISH awaits the broker: downlink waits until it is acknowledged.
  bool uplink_ack_pending() const noexcept;

  std::uint32_t new_token();
  std::uint16_t new_msg_id();
  static void send(Actions& out, mqttsn::Message m);
  static void log(Actions& out, LogLevel level, std::string text);
  std::string who() const;

  SessionConfig config_;
  SessionState state_ = SessionState::Connecting;
  std::string client_id_;
  ConnectStep step_ = ConnectStep::None;
  PendingConnect pending_;

  bool clean_session_ = true;
  std::uint16_t keep_alive_s_ = 0;
  std::optional<Will> will_;
  bool connected_once_ = false;    // a CONNACK was sent at least once
  bool upstream_started_ = false;  // ConnectUpstream issued (Paho reconnects on its own)
  bool upstream_up_ = false;

  TimePoint last_rx_;
  std::optional<std::uint16_t> sleep_s_;
  TimePoint sleep_deadline_{};
  TimePoint will_deadline_{};      // Connecting: the will exchange must go on
  TimePoint upstream_deadline_{};  // Connecting, WaitUpstream: CONNACK 0x01 then

  TopicRegistry topics_;
  std::map<std::string, int> subscriptions_;  // filter -> granted QoS (ordered: resubscribe order)
  std::unordered_map<std::uint32_t, UpPending> up_pending_;
  std::map<std::uint16_t, Qos2In> qos2_in_;
  // Uplink msg ids whose PUBLISH failed while the connection was up (the broker dropped it),
  // by count; a bounded, best-effort memory (cleared when anything is delivered).
  std::map<std::uint16_t, unsigned> dropped_publishes_;
  std::uint32_t next_token_ = 1;

  Outbox outbox_;
  std::optional<Inflight> inflight_;
  std::uint16_t next_msg_id_ = 1;
  std::uint64_t revision_ = 0;
};

}  // namespace gw
